// vss::ipc::writer_client against a fake openvssd inside the test: an asio Unix stream acceptor
// on a socket in a fresh temporary directory, whose connections the test drives frame by frame
// (hand-rolled framing: 4-byte big-endian length + JSON, independent of the product's codec).
// Every frame the client sends is also checked against the protocol schema (decode_message).
// Waits are bounded (kBound); "nothing happens" is watched for kQuiet. Timing assertions only
// use lower bounds that cannot fail (a timer never fires early) and generous upper bounds.

#include "vss/ipc/writer_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "ipc/message.hpp"
#include "support/eventually.hpp"
#include "vss/writer.hpp"

namespace {

using json = nlohmann::json;
using vss::writer_event;
using vss::ipc::client_state;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using local = asio::local::stream_protocol;

// The longest anything the test waits for may take (generous: TSan and a shared machine).
constexpr auto kBound = 3s;
// How long the test watches for something that must not happen.
constexpr auto kQuiet = 300ms;

// Polls `done` (vss::test::eventually) for at most kBound.
template <class Pred>
bool eventually(Pred done) {
  return vss::test::eventually(done, kBound);
}

// One frame: 4-byte big-endian length, then the JSON text.
std::string frame_of(const json& body) {
  const std::string payload = body.dump();
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string out;
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  return out + payload;
}

// The daemon's side of the socket, driven by the test. Socket work runs on its own thread; the
// test reads what each connection received (in order) and sends frames on any connection.
class fake_daemon {
 public:
  fake_daemon() : work_(asio::make_work_guard(io_)) {
    std::string dir = "/tmp/openvss-wct-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    dir_ = dir;
    path_ = dir_ + "/openvss.sock";
    acceptor_.open();
    acceptor_.bind(local::endpoint(path_));
    acceptor_.listen();
    accept_next();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~fake_daemon() {
    asio::post(io_, [this] {
      std::error_code ignored;
      acceptor_.close(ignored);
      for (auto& p : peers_) p->socket.close(ignored);
    });
    work_.reset();
    thread_.join();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  fake_daemon(const fake_daemon&) = delete;
  fake_daemon& operator=(const fake_daemon&) = delete;

  const std::string& path() const { return path_; }

  std::size_t connections() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }

  bool wait_connections(std::size_t n, steady::duration bound = kBound) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, bound, [&] { return records_.size() >= n; });
  }

  // The next frame connection `i` received, in order; nullopt if none came within `bound`.
  std::optional<json> next(std::size_t i, steady::duration bound = kBound) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, bound,
                           [&] { return i < records_.size() && !records_[i].frames.empty(); })) {
      return std::nullopt;
    }
    auto f = std::move(records_[i].frames.front());
    records_[i].frames.pop_front();
    return f;
  }

  // True once the client closed connection `i` (EOF or error seen), within `bound`.
  bool wait_closed(std::size_t i, steady::duration bound = kBound) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, bound,
                             [&] { return i < records_.size() && records_[i].closed; });
  }

  bool closed(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return i < records_.size() && records_[i].closed;
  }

  // Frames the protocol's codec rejected, with its reason.
  std::vector<std::string> invalid() const {
    std::lock_guard lock(mutex_);
    return invalid_;
  }

  void send(std::size_t i, const json& body) {
    asio::post(io_, [this, i, bytes = frame_of(body)]() mutable {
      if (i >= peers_.size()) return;
      auto p = peers_[i];
      p->out.push_back(std::move(bytes));
      if (!p->writing) write_next(p);
    });
  }

  // Closes connection `i` from the daemon's side (queued frames may be dropped).
  void close(std::size_t i) {
    asio::post(io_, [this, i] {
      if (i >= peers_.size()) return;
      std::error_code ignored;
      peers_[i]->socket.shutdown(local::socket::shutdown_both, ignored);
      peers_[i]->socket.close(ignored);
    });
  }

 private:
  struct peer {
    explicit peer(asio::io_context& io) : socket(io) {}
    local::socket socket;
    std::size_t index = 0;
    std::array<char, 4096> buffer{};
    std::string pending;  // bytes read that do not make a whole frame yet
    std::deque<std::string> out;
    bool writing = false;
  };

  struct record {
    std::deque<json> frames;
    bool closed = false;
  };

  void accept_next() {
    auto p = std::make_shared<peer>(io_);
    acceptor_.async_accept(p->socket, [this, p](std::error_code ec) {
      if (ec) return;
      {
        std::lock_guard lock(mutex_);
        p->index = records_.size();
        records_.emplace_back();
      }
      peers_.push_back(p);
      changed_.notify_all();
      read(p);
      accept_next();
    });
  }

  void read(const std::shared_ptr<peer>& p) {
    p->socket.async_read_some(
        asio::buffer(p->buffer), [this, p](std::error_code ec, std::size_t n) {
          p->pending.append(p->buffer.data(), n);
          std::vector<std::string> payloads;
          while (p->pending.size() >= 4) {
            const auto* b = reinterpret_cast<const unsigned char*>(p->pending.data());
            const std::size_t len = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) |
                                    (std::size_t{b[2]} << 8) | std::size_t{b[3]};
            if (p->pending.size() < 4 + len) break;
            payloads.push_back(p->pending.substr(4, len));
            p->pending.erase(0, 4 + len);
          }
          {
            std::lock_guard lock(mutex_);
            for (auto& payload : payloads) {
              vss::ipc::message decoded;
              std::string detail;
              if (vss::ipc::decode_message(payload, decoded, detail)) {
                invalid_.push_back(detail + " in " + payload);
              }
              records_[p->index].frames.push_back(json::parse(payload, nullptr, false));
            }
            if (ec) records_[p->index].closed = true;
          }
          changed_.notify_all();
          if (!ec) read(p);
        });
  }

  void write_next(const std::shared_ptr<peer>& p) {
    if (p->out.empty()) {
      p->writing = false;
      return;
    }
    p->writing = true;
    asio::async_write(p->socket, asio::buffer(p->out.front()),
                      [this, p](std::error_code ec, std::size_t) {
                        p->out.pop_front();
                        if (ec) {
                          p->out.clear();
                          p->writing = false;
                          return;
                        }
                        write_next(p);
                      });
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  local::acceptor acceptor_{io_};
  std::string dir_;
  std::string path_;
  std::vector<std::shared_ptr<peer>> peers_;  // io thread only

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<record> records_;
  std::vector<std::string> invalid_;
  std::thread thread_;  // last: starts once everything it uses exists
};

// What a writer saw of one event.
struct seen_event {
  writer_event event = writer_event::identify;
  vss::snapshot_set_id set;
  vss::backup_type type = vss::backup_type::undefined;
  bool components_selected = false;
  std::vector<vss::selected_component> components;
  std::vector<std::string> volumes;
  std::thread::id thread;
  steady::time_point at;
};

// A writer that records every event and answers it at once (complete unless told to fail or
// to hold the context). Everything its handlers touch is its own, so a handler that runs late
// (a lease, a stop in TearDown) never reaches into a finished test body.
class recording_writer : public vss::writer {
 public:
  explicit recording_writer(vss::writer_identity id) : writer(std::move(id)) {}

  void fail_on(writer_event e, vss::errc code, std::string message) {
    std::lock_guard lock(mutex_);
    failures_.emplace_back(e, code, std::move(message));
  }

  void hold_on(writer_event e) {
    std::lock_guard lock(mutex_);
    hold_.push_back(e);
  }

  // Completes every held context; returns how many there were.
  std::size_t release_held() {
    std::vector<vss::writer_context> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& c : held) c.complete();
    return held.size();
  }

  std::vector<seen_event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

  std::size_t count(writer_event e) const {
    std::lock_guard lock(mutex_);
    return count_locked(e);
  }

  // Waits until the writer saw `e` at least `n` times.
  bool wait_for(writer_event e, std::size_t n = 1, steady::duration bound = kBound) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, bound, [&] { return count_locked(e) >= n; });
  }

  void on_identify(vss::writer_context ctx) override {
    if (auto* md = ctx.metadata()) {
      md->components.push_back({vss::component_type::database,
                                "sql",
                                "orders",
                                "Orders database",
                                true,
                                {"/data/orders/*.db"},
                                {"/data"}});
      md->excludes.push_back("/data/orders/*.tmp");
    }
    handle(std::move(ctx));
  }
  void on_prepare_backup(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_prepare_snapshot(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_freeze(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_thaw(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_post_snapshot(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_abort(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_backup_complete(vss::writer_context ctx) override { handle(std::move(ctx)); }
  void on_backup_shutdown(vss::writer_context ctx) override { handle(std::move(ctx)); }

 private:
  std::size_t count_locked(writer_event e) const {
    std::size_t n = 0;
    for (const auto& s : events_) n += s.event == e ? 1 : 0;
    return n;
  }

  void handle(vss::writer_context ctx) {
    seen_event s{
        ctx.event(),      ctx.snapshot_set(), ctx.backup_type(),          ctx.components_selected(),
        ctx.components(), ctx.volumes(),      std::this_thread::get_id(), steady::now()};
    std::optional<std::pair<vss::errc, std::string>> failure;
    bool hold = false;
    {
      std::lock_guard lock(mutex_);
      events_.push_back(s);
      for (const auto& [e, code, message] : failures_) {
        if (e == s.event) failure.emplace(code, message);
      }
      hold = std::find(hold_.begin(), hold_.end(), s.event) != hold_.end();
      if (hold) held_.push_back(std::move(ctx));
    }
    changed_.notify_all();
    if (hold) return;
    if (failure) {
      ctx.fail(failure->first, failure->second);
    } else {
      ctx.complete();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<seen_event> events_;
  std::vector<std::tuple<writer_event, vss::errc, std::string>> failures_;
  std::vector<writer_event> hold_;
  std::vector<vss::writer_context> held_;
};

std::shared_ptr<recording_writer> make_writer(
    std::string name, std::chrono::milliseconds freeze_timeout = 60s,
    vss::handler_execution execution = vss::handler_execution::non_blocking) {
  vss::writer_identity id;
  id.name = std::move(name);
  id.instance_name = "instance-1";
  id.usage = vss::usage_type::user_data;
  id.source = vss::source_type::transacted_db;
  id.level = vss::application_level::back_end;
  id.freeze_timeout = freeze_timeout;
  id.execution = execution;
  return std::make_shared<recording_writer>(std::move(id));
}

std::string new_set() { return vss::snapshot_set_id::generate().to_string(); }

// An `event` frame for writer `w`.
json event_frame(std::uint64_t seq, const vss::writer& w, std::string_view event,
                 const std::string& set) {
  return {{"type", "event"},
          {"seq", seq},
          {"instance_id", w.identity().instance_id.to_string()},
          {"event", event},
          {"set", set},
          {"backup_type", 1},
          {"components_selected", false},
          {"components", json::array()},
          {"volumes", json::array({"/data"})}};
}

class WriterClient : public ::testing::Test {
 protected:
  WriterClient() : work_(asio::make_work_guard(io_)) {
    io_thread_ = std::thread([this] {
      io_.run();
      io_done_.set_value();
    });
    io_thread_id_ = io_thread_.get_id();
  }

  ~WriterClient() override {
    stop_client();
    work_.reset();
    // Bounded: whatever the client left queued must drain quickly once it is stopped.
    if (io_done_.get_future().wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the client's executor did not drain after stop()";
      io_.stop();
    }
    io_thread_.join();
  }

  void TearDown() override {
    EXPECT_THAT(daemon_.invalid(), ::testing::IsEmpty())
        << "frames the client sent must follow the protocol's schema";
  }

  // Options for a quick test: fast reconnects, default silence handling.
  vss::ipc::writer_client_options options() const {
    vss::ipc::writer_client_options o;
    o.socket_path = daemon_.path();
    o.client_name = "writer-client-test";
    o.reconnect_min = 20ms;
    o.reconnect_max = 100ms;
    return o;
  }

  vss::ipc::writer_client& make_client(vss::ipc::writer_client_options o) {
    o.log = [this](std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_.emplace_back(line);
    };
    client_ = std::make_unique<vss::ipc::writer_client>(io_.get_executor(), std::move(o));
    return *client_;
  }

  // Starts a client with `w` registered and completes the handshake on connection 0.
  vss::ipc::writer_client& connected_client(const std::shared_ptr<vss::writer>& w,
                                            vss::ipc::writer_client_options o) {
    auto& c = make_client(std::move(o));
    c.add_writer(w);
    c.start();
    EXPECT_TRUE(daemon_.wait_connections(1));
    handshake(0);
    EXPECT_TRUE(eventually([&] { return c.state() == client_state::connected; }));
    return c;
  }

  // Stops and destroys the client; its handlers may still run on the executor afterwards.
  void stop_client() {
    if (!client_) return;
    client_->stop();
    EXPECT_TRUE(eventually([&] { return client_->state() == client_state::stopped; }));
    client_.reset();
  }

  // Reads `hello` on connection `i`, answers `welcome`, then answers the `register` of
  // `writers` writers with `registered`; returns the register frames.
  // Answers as openvssd does, echoing a register's group; with `reply_group` set, answers
  // with that group instead ("": none, as a daemon without placement groups).
  std::vector<json> handshake(std::size_t i, std::size_t writers = 1, int heartbeat_ms = 1000,
                              std::optional<std::string> reply_group = std::nullopt) {
    std::vector<json> registers;
    const auto hello = daemon_.next(i);
    if (!hello) {
      ADD_FAILURE() << "no hello on connection " << i;
      return registers;
    }
    EXPECT_EQ(hello->value("type", ""), "hello") << hello->dump();
    welcome_sent_ = steady::now();
    daemon_.send(i, {{"type", "welcome"},
                     {"version", 1},
                     {"server", "fake-openvssd"},
                     {"pid", 4242},
                     {"heartbeat_ms", heartbeat_ms}});
    for (std::size_t k = 0; k < writers; ++k) {
      const auto reg = daemon_.next(i);
      if (!reg || reg->value("type", "") != "register") {
        ADD_FAILURE() << "expected register on connection " << i << ", got "
                      << (reg ? reg->dump() : "nothing");
        break;
      }
      json reply{{"type", "registered"},
                 {"id", reg->at("id")},
                 {"instance_id", reg->at("writer").at("instance_id")}};
      if (reply_group) {
        if (!reply_group->empty()) reply["group"] = *reply_group;
      } else if (reg->contains("group")) {
        reply["group"] = reg->at("group");
      }
      daemon_.send(i, reply);
      registers.push_back(*reg);
    }
    return registers;
  }

  bool logged(std::string_view needle) const {
    std::lock_guard lock(log_mutex_);
    for (const auto& line : log_) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  fake_daemon daemon_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::promise<void> io_done_;
  std::thread io_thread_;
  std::thread::id io_thread_id_;
  std::unique_ptr<vss::ipc::writer_client> client_;
  // When the last handshake's welcome was sent: the client cannot have heard the daemon
  // earlier on that connection, so its silence clock starts after this.
  steady::time_point welcome_sent_;
  mutable std::mutex log_mutex_;
  std::vector<std::string> log_;
};

// ---- handshake and registration ----------------------------------------------------------------

TEST_F(WriterClient, TheHandshakeSaysHelloAndRegistersTheWritersIdentity) {
  auto w = make_writer("orders-db", 250ms);
  auto& c = make_client(options());
  EXPECT_EQ(c.state(), client_state::stopped);
  c.add_writer(w);
  c.start();
  ASSERT_TRUE(daemon_.wait_connections(1));

  const auto hello = daemon_.next(0);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->value("type", ""), "hello");
  EXPECT_EQ(hello->value("version", 0), 1);
  EXPECT_EQ(hello->value("role", ""), "writer");
  EXPECT_EQ(hello->value("client", ""), "writer-client-test");
  // Nothing else before the daemon's welcome.
  EXPECT_FALSE(daemon_.next(0, 100ms));
  EXPECT_EQ(c.state(), client_state::connecting);

  daemon_.send(0, {{"type", "welcome"},
                   {"version", 1},
                   {"server", "fake-openvssd"},
                   {"pid", 4242},
                   {"heartbeat_ms", 1000}});
  const auto reg = daemon_.next(0);
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->value("type", ""), "register");
  ASSERT_TRUE(reg->contains("id"));
  const auto& id = w->identity();
  const json& sent = reg->at("writer");
  EXPECT_EQ(sent.value("name", ""), "orders-db");
  EXPECT_EQ(sent.value("instance_name", ""), "instance-1");
  EXPECT_EQ(sent.value("class_id", ""), id.class_id.to_string());
  EXPECT_EQ(sent.value("instance_id", ""), id.instance_id.to_string());
  EXPECT_FALSE(id.instance_id.to_string() == vss::writer_instance_id{}.to_string())
      << "the writer must register with its own (non-null) instance id";
  EXPECT_EQ(sent.value("usage", -1), static_cast<int>(vss::usage_type::user_data));
  EXPECT_EQ(sent.value("source", -1), static_cast<int>(vss::source_type::transacted_db));
  EXPECT_EQ(sent.value("level", -9), static_cast<int>(vss::application_level::back_end));
  EXPECT_EQ(sent.value("freeze_timeout_ms", 0), 250);
  daemon_.send(
      0,
      {{"type", "registered"}, {"id", reg->at("id")}, {"instance_id", id.instance_id.to_string()}});

  EXPECT_TRUE(eventually([&] { return c.state() == client_state::connected; }));
  EXPECT_EQ(c.stats().connects, 1u);
  EXPECT_EQ(c.stats().connection_losses, 0u);
  EXPECT_TRUE(logged("connected"));
}

TEST_F(WriterClient, AWriterAddedWhileConnectedIsRegisteredOnTheCurrentConnection) {
  auto first = make_writer("first");
  auto& c = connected_client(first, options());
  auto second = make_writer("second");
  c.add_writer(second);
  const auto reg = daemon_.next(0);
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->value("type", ""), "register");
  EXPECT_EQ(reg->at("writer").value("instance_id", ""), second->identity().instance_id.to_string());
  EXPECT_EQ(reg->at("writer").value("name", ""), "second");
  EXPECT_FALSE(reg->contains("group")) << "no placement: no group field";
}

TEST_F(WriterClient, AWritersPlacementGroupIsSentWithEveryRegistration) {
  auto w = make_writer("db");
  auto& c = make_client(options());
  c.add_writer(w, {.group = "host-7"});
  c.start();
  ASSERT_TRUE(daemon_.wait_connections(1));
  const auto first = handshake(0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].value("group", ""), "host-7");
  EXPECT_TRUE(eventually([&] { return c.stats().connects == 1; }));
  // Registered again on the next connection, in the same group.
  daemon_.close(0);
  ASSERT_TRUE(daemon_.wait_connections(2));
  const auto second = handshake(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].value("group", ""), "host-7");
  EXPECT_EQ(second[0].at("writer"), first[0].at("writer"));
  EXPECT_TRUE(eventually([&] { return c.state() == client_state::connected; }));
  EXPECT_FALSE(logged("without its placement group"));
}

TEST_F(WriterClient, ADaemonThatRegistersWithoutTheGroupIsLogged) {
  auto w = make_writer("db");
  auto& c = make_client(options());
  c.add_writer(w, {.group = "host-7"});
  c.start();
  ASSERT_TRUE(daemon_.wait_connections(1));
  ASSERT_EQ(handshake(0, 1, 1000, /*reply_group=*/"").size(), 1u);
  EXPECT_TRUE(
      eventually([&] { return logged("registered without its placement group 'host-7'"); }));
  EXPECT_TRUE(eventually([&] { return c.state() == client_state::connected; }));
  // Registered again, into another group than it asked for: logged as that.
  daemon_.close(0);
  ASSERT_TRUE(daemon_.wait_connections(2));
  ASSERT_EQ(handshake(1, 1, 1000, /*reply_group=*/"host-8").size(), 1u);
  EXPECT_TRUE(eventually([&] {
    return logged("registered in placement group 'host-8', not the 'host-7' it asked for");
  }));
}

TEST_F(WriterClient, APlacementGroupTheDaemonWouldRefuseIsRefusedAtAddWriter) {
  auto& c = make_client(options());
  EXPECT_THROW(
      c.add_writer(make_writer("a"), {.group = std::string(vss::ipc::max_group_bytes + 1, 'g')}),
      std::invalid_argument);
  EXPECT_THROW(c.add_writer(make_writer("b"), {.group = "host\n7"}), std::invalid_argument);
  EXPECT_THROW(c.add_writer(make_writer("d"), {.group = "host\xff"}), std::invalid_argument);
  EXPECT_NO_THROW(
      c.add_writer(make_writer("c"), {.group = std::string(vss::ipc::max_group_bytes, 'g')}));
}

// ---- events and results ------------------------------------------------------------------------

TEST_F(WriterClient, AnEventReachesTheHandlerWithItsSetVolumesAndComponentsAndIsAnsweredBySeq) {
  auto w = make_writer("db");
  auto& c = connected_client(w, options());
  const auto set = new_set();
  auto ev = event_frame(41, *w, "prepare_backup", set);
  ev["backup_type"] = static_cast<int>(vss::backup_type::differential);
  ev["components_selected"] = true;
  ev["components"] = json::array(
      {{{"type", 1}, {"logical_path", "sql"}, {"name", "orders"}, {"backup_succeeded", false}}});
  ev["volumes"] = json::array({"/data", "/logs"});
  daemon_.send(0, ev);

  ASSERT_TRUE(w->wait_for(writer_event::prepare_backup));
  const auto seen = w->events().at(0);
  EXPECT_EQ(seen.set.to_string(), set);
  EXPECT_EQ(seen.type, vss::backup_type::differential);
  EXPECT_TRUE(seen.components_selected);
  EXPECT_THAT(seen.volumes, ::testing::ElementsAre("/data", "/logs"));
  ASSERT_EQ(seen.components.size(), 1u);
  EXPECT_EQ(seen.components[0].type, vss::component_type::database);
  EXPECT_EQ(seen.components[0].logical_path, "sql");
  EXPECT_EQ(seen.components[0].name, "orders");
  EXPECT_EQ(seen.thread, io_thread_id_) << "a non-blocking writer runs on the client's executor";

  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("type", ""), "result");
  EXPECT_EQ(result->value("seq", 0), 41);
  EXPECT_EQ(result->value("outcome", ""), "complete");
  EXPECT_FALSE(result->contains("hresult"));
  EXPECT_EQ(c.stats().events, 1u);
}

TEST_F(WriterClient, AnIdentifyResultCarriesTheWritersMetadata) {
  auto w = make_writer("db");
  connected_client(w, options());
  auto ev = event_frame(3, *w, "identify", vss::snapshot_set_id{}.to_string());
  daemon_.send(0, ev);

  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("type", ""), "result");
  EXPECT_EQ(result->value("seq", 0), 3);
  EXPECT_EQ(result->value("outcome", ""), "complete");
  ASSERT_TRUE(result->contains("metadata")) << result->dump();
  vss::writer_metadata md;
  ASSERT_NO_THROW(vss::ipc::metadata_from_json(result->at("metadata"), md));
  ASSERT_EQ(md.components.size(), 1u);
  EXPECT_EQ(md.components[0].type, vss::component_type::database);
  EXPECT_EQ(md.components[0].logical_path, "sql");
  EXPECT_EQ(md.components[0].name, "orders");
  EXPECT_EQ(md.components[0].caption, "Orders database");
  EXPECT_THAT(md.components[0].files, ::testing::ElementsAre("/data/orders/*.db"));
  EXPECT_THAT(md.components[0].volumes, ::testing::ElementsAre("/data"));
  EXPECT_THAT(md.excludes, ::testing::ElementsAre("/data/orders/*.tmp"));
}

TEST_F(WriterClient, AFailedEventIsAnsweredWithTheHresultSymbolAndTheWritersMessage) {
  auto w = make_writer("db");
  w->fail_on(writer_event::prepare_snapshot, vss::errc::writer_error_retryable,
             "checkpoint failed");
  connected_client(w, options());
  daemon_.send(0, event_frame(9, *w, "prepare_snapshot", new_set()));

  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("type", ""), "result");
  EXPECT_EQ(result->value("seq", 0), 9);
  EXPECT_EQ(result->value("outcome", ""), "fail");
  EXPECT_EQ(result->value("hresult", ""), "VSS_E_WRITERERROR_RETRYABLE");
  EXPECT_EQ(result->value("message", ""), "checkpoint failed");
}

TEST_F(WriterClient, AnEventForAnInstanceNotInThisProcessIsAnsweredNonRetryable) {
  auto w = make_writer("db");
  auto& c = connected_client(w, options());
  auto ev = event_frame(5, *w, "prepare_backup", new_set());
  ev["instance_id"] = vss::writer_instance_id::generate().to_string();
  daemon_.send(0, ev);

  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 5);
  EXPECT_EQ(result->value("outcome", ""), "fail");
  EXPECT_EQ(result->value("hresult", ""), "VSS_E_WRITERERROR_NONRETRYABLE");
  EXPECT_TRUE(w->events().empty());
  EXPECT_EQ(c.stats().events, 0u);
}

// ---- the writer-side lease ---------------------------------------------------------------------

// Freeze on connection 0 for `w`, answered; returns the set. The lease starts at `sent`.
std::string freeze_answered(fake_daemon& daemon, const recording_writer& w, std::uint64_t seq,
                            steady::time_point& sent) {
  const auto set = new_set();
  sent = steady::now();
  daemon.send(0, event_frame(seq, w, "freeze", set));
  const auto result = daemon.next(0);
  EXPECT_TRUE(result && result->value("seq", 0) == static_cast<std::int64_t>(seq) &&
              result->value("outcome", "") == "complete")
      << (result ? result->dump() : "no result for Freeze");
  return set;
}

TEST_F(WriterClient, ALeaseEndsAFreezeThatNoThawOrAbortEndsWithinTheFreezeTimeout) {
  auto w = make_writer("db", 200ms);
  auto& c = connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 7, sent);

  ASSERT_TRUE(w->wait_for(writer_event::abort));
  const auto events = w->events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, writer_event::freeze);
  EXPECT_EQ(events[1].event, writer_event::abort);
  EXPECT_EQ(events[1].set.to_string(), set);
  const auto waited = events[1].at - sent;
  EXPECT_GE(waited, 200ms) << "the lease must not end the freeze before the freeze timeout";
  EXPECT_LT(waited, 200ms + 1500ms) << "the lease must end the freeze about its timeout";

  const auto notice = daemon_.next(0);
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->value("type", ""), "lease_expired");
  EXPECT_EQ(notice->value("instance_id", ""), w->identity().instance_id.to_string());
  EXPECT_EQ(notice->value("set", ""), set);
  EXPECT_EQ(notice->value("event", ""), "freeze");
  EXPECT_EQ(c.stats().lease_expirations, 1u);
  // The lease's own Abort is answered to nobody: no result frame follows.
  EXPECT_FALSE(daemon_.next(0, 100ms));
  EXPECT_TRUE(logged("thaws itself"));
}

TEST_F(WriterClient, AThawInTimeEndsTheLease) {
  auto w = make_writer("db", 300ms);
  auto& c = connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 1, sent);
  daemon_.send(0, event_frame(2, *w, "thaw", set));
  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 2);
  EXPECT_EQ(result->value("outcome", ""), "complete");

  // Well past the freeze timeout: no lease expiry, no abort, no notice.
  EXPECT_FALSE(daemon_.next(0, 300ms + kQuiet));
  EXPECT_EQ(w->count(writer_event::thaw), 1u);
  EXPECT_EQ(w->count(writer_event::abort), 0u);
  EXPECT_EQ(c.stats().lease_expirations, 0u);
}

TEST_F(WriterClient, ALateThawAfterTheLeaseIsAnsweredTimeoutWithoutCallingTheWriter) {
  auto w = make_writer("db", 200ms);
  connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 1, sent);
  const auto notice = daemon_.next(0);
  ASSERT_TRUE(notice);
  ASSERT_EQ(notice->value("type", ""), "lease_expired");

  daemon_.send(0, event_frame(2, *w, "thaw", set));
  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 2);
  EXPECT_EQ(result->value("outcome", ""), "fail");
  EXPECT_EQ(result->value("hresult", ""), "VSS_E_WRITERERROR_TIMEOUT");
  EXPECT_EQ(w->count(writer_event::thaw), 0u);
  EXPECT_EQ(w->count(writer_event::abort), 1u);
}

TEST_F(WriterClient, ALateAbortAfterTheLeaseIsAnsweredCompleteWithoutCallingTheWriterAgain) {
  auto w = make_writer("db", 200ms);
  connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 1, sent);
  const auto notice = daemon_.next(0);
  ASSERT_TRUE(notice);
  ASSERT_EQ(notice->value("type", ""), "lease_expired");

  daemon_.send(0, event_frame(2, *w, "abort", set));
  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 2);
  EXPECT_EQ(result->value("outcome", ""), "complete");
  EXPECT_EQ(w->count(writer_event::abort), 1u) << "the writer sees exactly one end of its freeze";

  // The session's end still reaches the writer.
  daemon_.send(0, event_frame(3, *w, "backup_shutdown", set));
  const auto shutdown = daemon_.next(0);
  ASSERT_TRUE(shutdown);
  EXPECT_EQ(shutdown->value("seq", 0), 3);
  EXPECT_EQ(shutdown->value("outcome", ""), "complete");
  EXPECT_EQ(w->count(writer_event::backup_shutdown), 1u);
}

// The engine aborts a writer whose Thaw failed (spec: "OnThaw returns false -> Abort
// generated"), so a late Thaw is normally followed by an Abort for the same set.
TEST_F(WriterClient, ALateThawAndTheAbortThatFollowsItNeverCallTheWriterAgain) {
  auto w = make_writer("db", 200ms);
  connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 1, sent);
  const auto notice = daemon_.next(0);
  ASSERT_TRUE(notice);
  ASSERT_EQ(notice->value("type", ""), "lease_expired");

  daemon_.send(0, event_frame(2, *w, "thaw", set));
  const auto thaw = daemon_.next(0);
  ASSERT_TRUE(thaw);
  EXPECT_EQ(thaw->value("hresult", ""), "VSS_E_WRITERERROR_TIMEOUT");
  daemon_.send(0, event_frame(3, *w, "abort", set));
  const auto abort = daemon_.next(0);
  ASSERT_TRUE(abort);
  EXPECT_EQ(abort->value("seq", 0), 3);
  EXPECT_EQ(abort->value("outcome", ""), "complete");
  EXPECT_EQ(w->count(writer_event::thaw), 0u);
  EXPECT_EQ(w->count(writer_event::abort), 1u)
      << "the writer sees exactly one end of its freeze (DESIGN.md invariant 1)";
}

TEST_F(WriterClient, ALeaseThatExpiresWhileDisconnectedIsReportedOnTheNextConnection) {
  auto w = make_writer("db", 200ms);
  auto& c = connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 1, sent);
  daemon_.close(0);

  // The client reconnects at once; the daemon holds back its welcome until the lease ran out.
  ASSERT_TRUE(daemon_.wait_connections(2));
  ASSERT_TRUE(w->wait_for(writer_event::abort));
  EXPECT_GE(w->events().back().at - sent, 200ms);
  EXPECT_EQ(c.stats().lease_expirations, 1u);
  const auto registers = handshake(1);
  ASSERT_EQ(registers.size(), 1u);
  const auto notice = daemon_.next(1);
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->value("type", ""), "lease_expired");
  EXPECT_EQ(notice->value("instance_id", ""), w->identity().instance_id.to_string());
  EXPECT_EQ(notice->value("set", ""), set);
  EXPECT_EQ(notice->value("event", ""), "freeze");

  // The daemon's late Abort on the new connection does not reach the writer again.
  daemon_.send(1, event_frame(2, *w, "abort", set));
  const auto result = daemon_.next(1);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 2);
  EXPECT_EQ(result->value("outcome", ""), "complete");
  EXPECT_EQ(w->count(writer_event::abort), 1u);
}

// ---- connection loss, silence, refusal ---------------------------------------------------------

TEST_F(WriterClient, AClosedConnectionIsReconnectedAndTheWriterRegisteredWithTheSameInstanceId) {
  auto w = make_writer("db");
  auto& c = make_client(options());
  c.add_writer(w);
  c.start();
  ASSERT_TRUE(daemon_.wait_connections(1));
  const auto first = handshake(0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(eventually([&] { return c.stats().connects == 1; }));

  daemon_.close(0);
  ASSERT_TRUE(daemon_.wait_connections(2));
  const auto second = handshake(1);
  ASSERT_EQ(second.size(), 1u);
  const auto id = w->identity().instance_id.to_string();
  EXPECT_EQ(first[0].at("writer").value("instance_id", ""), id);
  EXPECT_EQ(second[0].at("writer").value("instance_id", ""), id);
  EXPECT_EQ(second[0].at("writer"), first[0].at("writer"));
  EXPECT_TRUE(eventually([&] { return c.stats().connects == 2; }));
  EXPECT_EQ(c.stats().connection_losses, 1u);
  EXPECT_EQ(c.state(), client_state::connected);

  // The new connection carries events as the first did.
  daemon_.send(1, event_frame(1, *w, "prepare_backup", new_set()));
  const auto result = daemon_.next(1);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 1);
  EXPECT_EQ(result->value("outcome", ""), "complete");
}

TEST_F(WriterClient, AnAnswerToAnEventOfALostConnectionIsNotSentOnTheNextOne) {
  auto w = make_writer("db");
  w->hold_on(writer_event::prepare_snapshot);
  connected_client(w, options());
  daemon_.send(0, event_frame(11, *w, "prepare_snapshot", new_set()));
  ASSERT_TRUE(w->wait_for(writer_event::prepare_snapshot));
  daemon_.close(0);
  ASSERT_TRUE(daemon_.wait_connections(2));
  ASSERT_EQ(handshake(1).size(), 1u);

  EXPECT_EQ(w->release_held(), 1u);
  EXPECT_FALSE(daemon_.next(1, kQuiet)) << "seq 11 belonged to the lost connection";
}

TEST_F(WriterClient, ASilentDaemonIsDroppedAfterTheSilenceLimitAndReconnected) {
  auto w = make_writer("db");
  auto o = options();
  o.silence_limit = 150ms;
  auto& c = connected_client(w, o);

  ASSERT_TRUE(daemon_.wait_closed(0)) << "no heartbeat for 150 ms: the client must hang up";
  EXPECT_GE(steady::now() - welcome_sent_, 150ms);
  ASSERT_TRUE(daemon_.wait_connections(2));
  ASSERT_EQ(handshake(1).size(), 1u);
  EXPECT_TRUE(eventually([&] { return c.stats().connects == 2; }));
  EXPECT_EQ(c.stats().connection_losses, 1u);
  EXPECT_TRUE(logged("silent"));
}

TEST_F(WriterClient, TheDefaultSilenceLimitIsFiveHeartbeatPeriods) {
  auto w = make_writer("db");
  auto& c = make_client(options());
  c.add_writer(w);
  c.start();
  ASSERT_TRUE(daemon_.wait_connections(1));
  ASSERT_EQ(handshake(0, 1, /*heartbeat_ms=*/40).size(), 1u);
  ASSERT_TRUE(daemon_.wait_closed(0));
  EXPECT_GE(steady::now() - welcome_sent_, 200ms);  // 5 x 40 ms
  EXPECT_TRUE(daemon_.wait_connections(2));
}

TEST_F(WriterClient, HeartbeatsKeepAQuietConnectionOpen) {
  auto w = make_writer("db");
  auto o = options();
  o.silence_limit = 200ms;
  auto& c = connected_client(w, o);
  const auto until = steady::now() + 500ms;  // 2.5 silence limits
  while (steady::now() < until) {
    daemon_.send(0, {{"type", "heartbeat"}});
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(daemon_.closed(0));
  EXPECT_EQ(daemon_.connections(), 1u);
  EXPECT_EQ(c.stats().connection_losses, 0u);
  EXPECT_EQ(c.state(), client_state::connected);
}

TEST_F(WriterClient, NotAuthorizedRefusesTheClientForGoodWithoutReconnecting) {
  auto w = make_writer("db");
  auto& c = make_client(options());
  c.add_writer(w);
  c.start();
  ASSERT_TRUE(daemon_.wait_connections(1));
  const auto hello = daemon_.next(0);
  ASSERT_TRUE(hello);
  daemon_.send(0, {{"type", "error"},
                   {"code", "not_authorized"},
                   {"message", "uid 1000 may not connect as a writer"}});

  EXPECT_TRUE(daemon_.wait_closed(0)) << "the client hangs up after a refusal";
  EXPECT_TRUE(eventually([&] { return c.state() == client_state::refused; }));
  std::this_thread::sleep_for(kQuiet);  // 15 x reconnect_min
  EXPECT_EQ(daemon_.connections(), 1u) << "a refused client must not reconnect";
  EXPECT_EQ(c.state(), client_state::refused);
  EXPECT_EQ(c.stats().connects, 0u);
  EXPECT_THAT(c.last_error(), ::testing::HasSubstr("not_authorized"));
  EXPECT_THAT(c.last_error(), ::testing::HasSubstr("uid 1000"));
}

// ---- blocking writers and stop -----------------------------------------------------------------

// A blocking writer whose Freeze holds until the engine gives up on it (ctx.abandoned()), at
// most 2 s, and which records whether its Abort ever ran while the Freeze still did.
class slow_freeze_writer : public vss::writer {
 public:
  slow_freeze_writer()
      : writer(vss::writer_identity{.name = "slow-freeze",
                                    .execution = vss::handler_execution::blocking}) {}

  void on_freeze(vss::writer_context ctx) override {
    {
      std::lock_guard lock(mutex_);
      freeze_thread_ = std::this_thread::get_id();
      abandoned_at_start_ = ctx.abandoned();
      in_freeze_ = true;
      trace_.push_back("freeze begins");
    }
    changed_.notify_all();
    const auto until = steady::now() + 2s;
    while (!ctx.abandoned() && steady::now() < until) std::this_thread::sleep_for(1ms);
    const bool abandoned = ctx.abandoned();
    // Linger a little: an Abort wrongly run beside this Freeze would show up now.
    std::this_thread::sleep_for(30ms);
    {
      std::lock_guard lock(mutex_);
      saw_abandoned_ = abandoned;
      in_freeze_ = false;
      trace_.push_back("freeze ends");
    }
    changed_.notify_all();
    ctx.complete();
  }

  void on_abort(vss::writer_context ctx) override {
    {
      std::lock_guard lock(mutex_);
      abort_beside_freeze_ = abort_beside_freeze_ || in_freeze_;
      abort_thread_ = std::this_thread::get_id();
      trace_.push_back("abort");
    }
    changed_.notify_all();
    ctx.complete();
  }

  void on_prepare_snapshot(vss::writer_context ctx) override { ctx.complete(); }
  void on_thaw(vss::writer_context ctx) override { ctx.complete(); }

  bool wait_trace(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kBound, [&] { return trace_.size() >= n; });
  }

  std::vector<std::string> trace() const {
    std::lock_guard lock(mutex_);
    return trace_;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> trace_;
  bool in_freeze_ = false;
  bool abandoned_at_start_ = true;
  bool saw_abandoned_ = false;
  bool abort_beside_freeze_ = false;
  std::thread::id freeze_thread_;
  std::thread::id abort_thread_;
};

TEST_F(WriterClient, ABlockingWritersAbortWaitsForItsFreezeAndTheFreezeSeesItselfAbandoned) {
  auto w = std::make_shared<slow_freeze_writer>();
  connected_client(w, options());
  const auto set = new_set();
  daemon_.send(0, event_frame(1, *w, "freeze", set));
  ASSERT_TRUE(w->wait_trace(1));  // the Freeze runs (and blocks)
  daemon_.send(0, event_frame(2, *w, "abort", set));
  ASSERT_TRUE(w->wait_trace(3));

  EXPECT_THAT(w->trace(), ::testing::ElementsAre("freeze begins", "freeze ends", "abort"));
  std::lock_guard lock(w->mutex_);
  EXPECT_FALSE(w->abandoned_at_start_);
  EXPECT_TRUE(w->saw_abandoned_) << "the Abort must turn the running Freeze's ctx.abandoned()";
  EXPECT_FALSE(w->abort_beside_freeze_) << "a writer never runs two handlers at once";
  EXPECT_NE(w->freeze_thread_, io_thread_id_) << "blocking handlers run on the blocking pool";
  EXPECT_NE(w->abort_thread_, io_thread_id_);
}

TEST_F(WriterClient, ABlockingWritersAbortIsAnsweredAfterItsFreezeReturns) {
  auto w = std::make_shared<slow_freeze_writer>();
  connected_client(w, options());
  const auto set = new_set();
  daemon_.send(0, event_frame(1, *w, "freeze", set));
  ASSERT_TRUE(w->wait_trace(1));
  daemon_.send(0, event_frame(2, *w, "abort", set));
  // The superseded Freeze is answered to nobody; the Abort is answered once it ran.
  const auto result = daemon_.next(0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->value("seq", 0), 2);
  EXPECT_EQ(result->value("outcome", ""), "complete");
  EXPECT_THAT(w->trace(), ::testing::ElementsAre("freeze begins", "freeze ends", "abort"));
}

TEST_F(WriterClient, StopWhileFrozenRunsTheWritersAbort) {
  auto w = make_writer("db");
  auto& c = connected_client(w, options());
  steady::time_point sent;
  const auto set = freeze_answered(daemon_, *w, 1, sent);
  EXPECT_EQ(w->count(writer_event::abort), 0u);

  c.stop();
  ASSERT_TRUE(w->wait_for(writer_event::abort));
  EXPECT_EQ(w->events().back().set.to_string(), set);
  EXPECT_TRUE(daemon_.wait_closed(0));
  EXPECT_TRUE(eventually([&] { return c.state() == client_state::stopped; }));
  c.stop();  // idempotent: the freeze already ended once
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(w->count(writer_event::abort), 1u);
  EXPECT_EQ(daemon_.connections(), 1u) << "a stopped client does not reconnect";
}

TEST_F(WriterClient, StopWhileNotFrozenCallsNoHandler) {
  auto w = make_writer("db");
  auto& c = connected_client(w, options());
  c.stop();
  EXPECT_TRUE(daemon_.wait_closed(0));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(w->events().empty());
  EXPECT_EQ(c.state(), client_state::stopped);
}

}  // namespace
