#include "vss/ipc/writer_client.hpp"

#include <asio/bind_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipc/connection.hpp"
#include "writers/phase_collector.hpp"

namespace vss::ipc {
namespace {

using clock_type = std::chrono::steady_clock;

// One event delivered to a local writer: the collector and event data its writer_context
// points at, kept alive by the context (the owner) until it is answered.
struct local_event {
  explicit local_event(writer_event e)
      : collector(e, 1, [this] {
          if (on_answer) on_answer(*this);
        }) {}
  detail::phase_collector collector;
  detail::event_info info;
  std::function<void(local_event&)> on_answer;  // runs on the thread that answered
};

}  // namespace

class writer_client::impl : public std::enable_shared_from_this<impl> {
 public:
  impl(asio::any_io_executor executor, writer_client_options options)
      : strand_(asio::make_strand(executor)),
        options_(std::move(options)),
        reconnect_timer_(strand_),
        silence_timer_(strand_) {
    if (!options_.blocking_executor) {
      pool_.emplace(2);
      options_.blocking_executor = pool_->get_executor();
    }
  }

  ~impl() {
    if (pool_) pool_->join();
  }

  void add_writer(std::shared_ptr<writer> w, writer_placement placement) {
    asio::dispatch(strand_, [self = shared_from_this(), w = std::move(w),
                             placement = std::move(placement)]() mutable {
      const auto id = w->identity().instance_id.to_string();
      auto& entry = self->writers_[id];
      entry.w = w;
      entry.group = std::move(placement.group);
      entry.lease = std::make_unique<asio::steady_timer>(self->strand_);
      // One handler of a writer at a time, also on the blocking pool (an Abort must not run
      // beside the Freeze it ends).
      entry.blocking = std::make_unique<asio::strand<asio::any_io_executor>>(
          asio::make_strand(self->options_.blocking_executor));
      if (self->state_ == client_state::connected) self->register_writer(id, entry);
    });
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      if (self->state_ != client_state::stopped || self->stopping_) return;
      self->state_ = client_state::connecting;
      self->connect();
    });
  }

  void stop() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->stopping_ = true;
      self->state_ = client_state::stopped;
      self->reconnect_timer_.cancel();
      self->silence_timer_.cancel();
      if (self->conn_) self->conn_->close();
      // Nobody will end these freezes any more: end them here.
      for (auto& [id, entry] : self->writers_) {
        if (entry.frozen_set) self->expire_lease(id, entry, "the client stopped");
      }
    });
  }

  client_state state() const noexcept { return state_.load(); }

  writer_client_stats stats() const noexcept {
    return {connects_.load(), losses_.load(), events_.load(), leases_.load()};
  }

  std::string last_error() const {
    std::lock_guard lock(error_mutex_);
    return last_error_;
  }

 private:
  struct writer_entry {
    std::shared_ptr<writer> w;
    std::string group;  // writer_placement::group, sent with every registration
    std::unique_ptr<asio::steady_timer> lease;
    std::unique_ptr<asio::strand<asio::any_io_executor>> blocking;  // blocking writers only
    std::optional<std::string> frozen_set;  // set id while between Freeze and Thaw/Abort
    std::set<std::string> expired_sets;     // sets whose freeze the lease ended
    std::weak_ptr<local_event> current;     // the event its handler is answering, if any
  };

  void log(const std::string& line) {
    if (options_.log) options_.log(line);
  }

  void set_error(std::string text) {
    log(text);
    std::lock_guard lock(error_mutex_);
    last_error_ = std::move(text);
  }

  void connect() {
    auto socket = std::make_shared<asio::local::stream_protocol::socket>(strand_);
    socket->async_connect(
        asio::local::stream_protocol::endpoint(options_.socket_path),
        asio::bind_executor(strand_, [self = shared_from_this(), socket](std::error_code ec) {
          if (self->stopping_) return;
          if (ec) {
            self->set_error("cannot connect to " + self->options_.socket_path + ": " +
                            ec.message());
            self->schedule_reconnect();
            return;
          }
          self->on_connected(std::move(*socket));
        }));
  }

  void schedule_reconnect() {
    if (stopping_ || state_ == client_state::refused) return;
    state_ = client_state::connecting;
    reconnect_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
    reconnect_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec && !self->stopping_) self->connect();
    });
  }

  void on_connected(asio::local::stream_protocol::socket socket) {
    auto conn = std::make_shared<connection>(std::move(socket), options_.max_frame);
    conn_ = conn;
    const auto generation = ++generation_;
    std::weak_ptr<impl> weak = shared_from_this();
    conn->start({
        .on_message =
            [weak, generation](message& m) {
              if (auto self = weak.lock(); self && self->generation_ == generation) {
                self->on_message(m);
              }
            },
        .on_protocol_error =
            [weak](protocol_errc code, const std::string& detail) {
              if (auto self = weak.lock()) {
                self->set_error(std::string("protocol error: ") + std::string(to_string(code)) +
                                ": " + detail);
              }
            },
        .on_closed =
            [weak, generation](std::error_code why) {
              if (auto self = weak.lock()) self->on_closed(generation, why);
            },
    });
    conn->send({{"type", "hello"},
                {"version", protocol_version},
                {"role", "writer"},
                {"client", options_.client_name}});
  }

  void on_closed(std::uint64_t generation, std::error_code why) {
    if (generation != generation_) return;
    const bool was_connected = state_ == client_state::connected;
    conn_.reset();
    ++generation_;  // answers of events from this connection are dropped from now on
    silence_timer_.cancel();
    if (was_connected) {
      ++losses_;
      log("connection to the daemon lost: " + why.message());
    }
    if (!stopping_ && state_ != client_state::refused) schedule_reconnect();
  }

  void on_message(message& m) {
    last_heard_ = clock_type::now();
    switch (m.type) {
      case message_type::welcome:
        return on_welcome(m);
      case message_type::heartbeat:
        return;
      case message_type::registered:
        return on_registered(m);
      case message_type::event:
        return on_event(m);
      case message_type::error:
        return on_error(m);
      default:
        set_error("unexpected '" + std::string(to_string(m.type)) + "' from the daemon");
        return;
    }
  }

  void on_registered(const message& m) {
    const auto it = registering_.find(m.body.at("id").get<std::int64_t>());
    if (it == registering_.end()) return;
    const auto asked = std::move(it->second);
    registering_.erase(it);
    if (asked.group.empty()) return;
    const auto w = writers_.find(asked.writer);
    const std::string name = w != writers_.end() ? w->second.w->identity().name : asked.writer;
    const auto echoed = m.body.find("group");
    if (echoed == m.body.end()) {
      log("writer '" + name + "' registered without its placement group '" + asked.group +
          "': the daemon does not know placement groups");
    } else if (echoed->get<std::string>() != asked.group) {
      log("writer '" + name + "' registered in placement group '" + echoed->get<std::string>() +
          "', not the '" + asked.group + "' it asked for");
    }
  }

  void on_welcome(const message& m) {
    state_ = client_state::connected;
    ++connects_;
    backoff_ = options_.reconnect_min;
    const auto heartbeat = std::chrono::milliseconds(m.body.value("heartbeat_ms", 1000));
    silence_limit_ = options_.silence_limit.count() > 0 ? options_.silence_limit : heartbeat * 5;
    log("connected to " + options_.socket_path);
    for (auto& [id, entry] : writers_) register_writer(id, entry);
    for (auto& notice : pending_notices_) conn_->send(notice);
    pending_notices_.clear();
    watch_silence();
  }

  void watch_silence() {
    silence_timer_.expires_after(silence_limit_ / 2);
    silence_timer_.async_wait(
        [self = shared_from_this(), generation = generation_](std::error_code ec) {
          if (ec || self->generation_ != generation || !self->conn_) return;
          if (clock_type::now() - self->last_heard_ > self->silence_limit_) {
            self->log("the daemon has been silent too long; reconnecting");
            self->conn_->close();
            return;
          }
          self->watch_silence();
        });
  }

  void on_error(const message& m) {
    const auto code = protocol_errc_from_string(m.body.value("code", std::string{}));
    if (m.body.contains("ref")) {
      if (auto it = registering_.find(m.body.at("ref").get<std::int64_t>());
          it != registering_.end()) {
        // E.g. VSS_E_WRITER_ALREADY_SUBSCRIBED while the daemon still tears down our previous
        // connection: try again shortly, on this connection, rather than stay unregistered.
        retry_register(it->second.writer);
        registering_.erase(it);
      }
    }
    const auto text =
        m.body.value("code", std::string{}) + ": " + m.body.value("message", std::string{});
    set_error("the daemon refused: " + text);
    if (code == protocol_errc::not_authorized || code == protocol_errc::version_mismatch) {
      state_ = client_state::refused;  // retrying cannot help
      if (conn_) conn_->close();
    }
  }

  void register_writer(const std::string& id, writer_entry& entry) {
    const auto ref = next_request_++;
    registering_[ref] = {id, entry.group};
    nlohmann::json frame{
        {"type", "register"}, {"id", ref}, {"writer", to_json(entry.w->identity())}};
    if (!entry.group.empty()) frame["group"] = entry.group;
    conn_->send(frame);
  }

  void retry_register(const std::string& id) {
    auto timer = std::make_shared<asio::steady_timer>(strand_, options_.reconnect_min);
    timer->async_wait(
        [self = shared_from_this(), timer, id, generation = generation_](std::error_code ec) {
          if (ec || self->generation_ != generation || !self->conn_) return;
          if (auto it = self->writers_.find(id); it != self->writers_.end()) {
            self->register_writer(id, it->second);
          }
        });
  }

  void on_event(const message& m) {
    const auto id = m.body.at("instance_id").get<std::string>();
    const auto seq = m.body.at("seq").get<std::uint64_t>();
    const auto event = *event_from_name(m.body.at("event").get<std::string>());
    const auto set = m.body.at("set").get<std::string>();
    auto it = writers_.find(id);
    if (it == writers_.end()) {
      send_result(generation_, seq, errc::writer_error_nonretryable,
                  "no writer " + id + " in this process", nullptr);
      return;
    }
    ++events_;
    auto& entry = it->second;

    if (event == writer_event::thaw || event == writer_event::abort) {
      // The lease already ended this freeze; the writer saw its one end. The set stays marked
      // after a late Thaw: the engine answers a Thaw that failed with an Abort, which must not
      // reach the writer either. The Abort (or BackupShutdown) clears it.
      const bool expired = event == writer_event::thaw ? entry.expired_sets.count(set) > 0
                                                       : entry.expired_sets.erase(set) > 0;
      if (expired) {
        if (event == writer_event::thaw) {
          send_result(generation_, seq, errc::writer_error_timeout,
                      "the writer's freeze timeout expired before Thaw; it thawed itself", nullptr);
        } else {
          send_result(generation_, seq, errc::ok, {}, nullptr);
        }
        return;
      }
      if (entry.frozen_set == set) {
        entry.frozen_set.reset();
        entry.lease->cancel();
      }
      // The engine has given up on any answer still pending (it sends an end only after
      // superseding the phase): tell the handler, so ctx.abandoned() stops a long Freeze.
      if (auto pending = entry.current.lock()) pending->collector.abandon();
    } else if (event == writer_event::backup_shutdown) {
      entry.expired_sets.erase(set);
    } else if (event == writer_event::freeze) {
      entry.frozen_set = set;
      arm_lease(id, entry, set);
    }

    auto ev = make_event(entry, m, event, set);
    deliver(entry, std::move(ev), seq);
  }

  std::shared_ptr<local_event> make_event(const writer_entry& entry, const message& m,
                                          writer_event event, const std::string& set) {
    auto ev = std::make_shared<local_event>(event);
    auto& info = ev->info;
    info.event = event;
    info.set = snapshot_set_id::parse(set).value_or(snapshot_set_id{});
    if (m.body.contains("backup_type")) {
      info.backup_type = static_cast<backup_type>(m.body.at("backup_type").get<int>());
    }
    info.components_selected = m.body.value("components_selected", false);
    auto volumes = std::make_shared<std::vector<std::string>>();
    if (m.body.contains("volumes")) {
      *volumes = m.body.at("volumes").get<std::vector<std::string>>();
    }
    info.volumes = std::move(volumes);
    auto mine = std::make_shared<std::vector<selected_component>>();
    if (m.body.contains("components")) {
      for (const auto& c : m.body.at("components")) {
        try {
          mine->push_back(selected_component_from_json(c));
        } catch (const bad_field&) {
          // Validated by decode_message; a component we cannot read is skipped, not fatal.
        }
      }
    }
    info.components =
        std::make_shared<const std::vector<std::shared_ptr<const std::vector<selected_component>>>>(
            std::vector<std::shared_ptr<const std::vector<selected_component>>>{std::move(mine)});
    info.participant_of_slot = std::make_shared<const std::vector<std::uint32_t>>(1, 0);
    info.identities = {&entry.w->identity()};
    return ev;
  }

  void deliver(writer_entry& entry, std::shared_ptr<local_event> ev, std::uint64_t seq) {
    // The collector's callback runs on whichever thread answered; it reads the answer and
    // hops back to the strand to send it on the connection the event came from.
    std::weak_ptr<impl> weak = shared_from_this();
    // Runs on whichever thread answered (a pool thread, too): it only posts to the strand and
    // takes a strong reference there, so the client is never destroyed on a pool thread.
    ev->on_answer = [weak, strand = strand_, seq, generation = generation_](local_event& answered) {
      auto& c = answered.collector;
      if (c.outcome(0) == detail::slot_outcome::abandoned) return;  // superseded: nobody waits
      const errc code = c.outcome(0) == detail::slot_outcome::completed
                            ? errc::ok
                            : (c.code(0) == errc::ok ? errc::writer_error_nonretryable : c.code(0));
      auto metadata = std::shared_ptr<writer_metadata>(c.take_metadata(0));
      asio::post(strand, [weak, seq, generation, code, message = c.message(0),
                          metadata = std::move(metadata)]() mutable {
        if (auto self = weak.lock()) {
          self->send_result(generation, seq, code, std::move(message), metadata.get());
        }
      });
    };
    entry.current = ev;
    ev->collector.start();
    auto* raw = ev.get();
    writer_context ctx(ev, &raw->collector, 0, &raw->info, false);
    auto w = entry.w;
    auto run = [w, ctx = std::move(ctx)]() mutable { call_handler(*w, std::move(ctx)); };
    if (w->identity().execution == handler_execution::blocking) {
      asio::post(*entry.blocking, std::move(run));
    } else {
      run();
    }
  }

  static void call_handler(writer& w, writer_context ctx) {
    try {
      switch (ctx.event()) {
        case writer_event::identify:
          return w.on_identify(std::move(ctx));
        case writer_event::prepare_backup:
          return w.on_prepare_backup(std::move(ctx));
        case writer_event::prepare_snapshot:
          return w.on_prepare_snapshot(std::move(ctx));
        case writer_event::freeze:
          return w.on_freeze(std::move(ctx));
        case writer_event::thaw:
          return w.on_thaw(std::move(ctx));
        case writer_event::post_snapshot:
          return w.on_post_snapshot(std::move(ctx));
        case writer_event::abort:
          return w.on_abort(std::move(ctx));
        case writer_event::backup_complete:
          return w.on_backup_complete(std::move(ctx));
        case writer_event::backup_shutdown:
          return w.on_backup_shutdown(std::move(ctx));
      }
    } catch (...) {
      // The context, moved into the handler, answered "the handler threw" as it unwound.
    }
  }

  void send_result(std::uint64_t generation, std::uint64_t seq, errc code, std::string message,
                   const writer_metadata* metadata) {
    if (seq == 0) {
      // A local Abort that ended an expired lease: nobody asked, so nobody is answered.
      if (code != errc::ok) log("the writer's own Abort after its lease failed: " + message);
      return;
    }
    if (generation != generation_ || !conn_) return;  // that connection is gone: so is the event
    nlohmann::json body{{"type", "result"}, {"seq", seq}};
    if (code == errc::ok) {
      body["outcome"] = "complete";
      if (metadata) body["metadata"] = metadata_to_json(*metadata);
    } else {
      body["outcome"] = "fail";
      body["hresult"] = std::string(symbol(code));
      if (!message.empty()) body["message"] = std::move(message);
    }
    conn_->send(body);
  }

  void arm_lease(const std::string& id, writer_entry& entry, const std::string& set) {
    entry.lease->expires_after(entry.w->identity().freeze_timeout);
    entry.lease->async_wait([self = shared_from_this(), id, set](std::error_code ec) {
      if (ec) return;
      auto it = self->writers_.find(id);
      if (it == self->writers_.end() || it->second.frozen_set != set) return;
      self->expire_lease(id, it->second, "no Thaw or Abort within the freeze timeout");
    });
  }

  void expire_lease(const std::string& id, writer_entry& entry, const std::string& why) {
    const auto set = *entry.frozen_set;
    entry.frozen_set.reset();
    // A Freeze handler still running (a blocking writer) learns that nobody waits for it.
    if (auto pending = entry.current.lock()) pending->collector.abandon();
    entry.lease->cancel();
    entry.expired_sets.insert(set);
    ++leases_;
    log("writer " + entry.w->identity().name + " thaws itself for set " + set + ": " + why);
    // Deliver a local Abort: the writer ends its freeze exactly as if the daemon had aborted.
    nlohmann::json fake{
        {"type", "event"}, {"seq", 0}, {"instance_id", id}, {"event", "abort"}, {"set", set}};
    message m{message_type::event, fake};
    auto ev = make_event(entry, m, writer_event::abort, set);
    deliver(entry, std::move(ev), 0);
    nlohmann::json notice{
        {"type", "lease_expired"}, {"instance_id", id}, {"set", set}, {"event", "freeze"}};
    if (state_ == client_state::connected && conn_) {
      conn_->send(notice);
    } else {
      pending_notices_.push_back(std::move(notice));
    }
  }

  asio::strand<asio::any_io_executor> strand_;
  writer_client_options options_;
  std::optional<asio::thread_pool> pool_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer silence_timer_;
  std::chrono::milliseconds backoff_{options_.reconnect_min};
  std::chrono::milliseconds silence_limit_{5000};
  clock_type::time_point last_heard_{};

  // Strand-only state.
  std::map<std::string, writer_entry> writers_;
  std::shared_ptr<connection> conn_;
  std::uint64_t generation_ = 0;
  std::int64_t next_request_ = 1;
  // Register id -> the writer and the group it asked for, until answered.
  struct pending_registration {
    std::string writer;
    std::string group;
  };
  std::map<std::int64_t, pending_registration> registering_;
  bool stopping_ = false;
  std::vector<nlohmann::json> pending_notices_;

  std::atomic<client_state> state_{client_state::stopped};
  std::atomic<std::uint64_t> connects_{0}, losses_{0}, events_{0}, leases_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

writer_client::writer_client(asio::any_io_executor executor, writer_client_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options))) {}

writer_client::~writer_client() { impl_->stop(); }

void writer_client::add_writer(std::shared_ptr<writer> w) { impl_->add_writer(std::move(w), {}); }
void writer_client::add_writer(std::shared_ptr<writer> w, writer_placement placement) {
  if (!is_valid_group(placement.group)) {
    throw std::invalid_argument("writer_client::add_writer: a placement group must be " +
                                std::string(group_rule));
  }
  impl_->add_writer(std::move(w), std::move(placement));
}
void writer_client::start() { impl_->start(); }
void writer_client::stop() { impl_->stop(); }
client_state writer_client::state() const noexcept { return impl_->state(); }
writer_client_stats writer_client::stats() const noexcept { return impl_->stats(); }
std::string writer_client::last_error() const { return impl_->last_error(); }

}  // namespace vss::ipc
