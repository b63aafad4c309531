#include "daemon/server.hpp"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <filesystem>
#include <unordered_map>
#include <vector>

#include "daemon/event_ids.hpp"
#include "daemon/peer_credentials.hpp"
#include "daemon/remote_writer.hpp"
#include "ipc/connection.hpp"

namespace vss::daemon {

using ipc::message;
using ipc::message_type;
using ipc::protocol_errc;

// One accepted connection: handshake first, then its role.
class peer : public std::enable_shared_from_this<peer> {
 public:
  peer(server& srv, asio::local::stream_protocol::socket socket)
      : server_(srv),
        conn_(std::make_shared<ipc::connection>(std::move(socket), srv.config_.max_frame_bytes)),
        timer_(conn_->strand()) {
    std::error_code ec;
    if (auto creds = read_peer_credentials(conn_->native_handle(), ec)) {
      creds_ = *creds;
      creds_ok_ = true;
    } else {
      server_.log_->error("event={} cannot read peer credentials: {}", event_id::unexpected_error,
                          ec.message());
    }
  }

  void refuse_busy() {
    conn_->send_and_close(
        ipc::make_error(protocol_errc::server_busy, "the daemon has reached max_connections"));
  }

  void start() {
    if (!creds_ok_) {
      // Without credentials there is no way to authorise the peer: refuse, never guess.
      conn_->send_and_close(
          ipc::make_error(protocol_errc::not_authorized, "cannot read peer credentials"));
      server_.forget(shared_from_this());
      return;
    }
    auto self = shared_from_this();
    // The timer belongs to the connection's strand, like everything that touches it later
    // (on_hello cancels it); arm it there, before the first read is even started.
    asio::post(conn_->strand(), [self] {
      // A peer that never says hello must not hold a connection slot forever.
      self->timer_.expires_after(std::chrono::seconds(5));
      self->timer_.async_wait([self](std::error_code ec) {
        if (!ec && self->role_ == role::none) {
          self->conn_->send_and_close(
              ipc::make_error(protocol_errc::out_of_order, "no hello within 5 s"));
        }
      });
    });
    conn_->start({
        .on_message = [self](message& m) { self->on_message(m); },
        .on_protocol_error =
            [self](protocol_errc code, const std::string& detail) {
              self->server_.log_->warn("event={} peer pid={} uid={}: {}: {}",
                                       event_id::protocol_error, self->creds_.pid, self->creds_.uid,
                                       ipc::to_string(code), detail);
            },
        .on_closed = [self](std::error_code why) { self->on_closed(why); },
    });
  }

  void close() { conn_->close(); }

  nlohmann::json describe() const {
    nlohmann::json j{{"pid", creds_.pid}, {"uid", creds_.uid}, {"role", role_name()}};
    if (role_ == role::writer) {
      std::lock_guard lock(mutex_);
      nlohmann::json writers = nlohmann::json::array();
      for (const auto& [id, w] : writers_) {
        auto st = w.proxy->status();
        nlohmann::json entry{{"instance_id", id},
                             {"name", w.proxy->identity().name},
                             {"events", st.events},
                             {"last_error", st.last_error},
                             {"lease_expirations", st.lease_expirations}};
        // So that an admin can see the group a writer asked for was taken (the log says so
        // once; this says so while it is registered).
        if (!w.group.empty()) entry["group"] = w.group;
        writers.push_back(std::move(entry));
      }
      j["writers"] = std::move(writers);
    }
    return j;
  }

  const char* role_name() const {
    switch (role_) {
      case role::writer:
        return "writer";
      case role::requester:
        return "requester";
      case role::none:
        break;
    }
    return "handshake";
  }

 private:
  enum class role { none, writer, requester };

  struct registered {
    std::shared_ptr<remote_writer> proxy;
    writer_registration registration;
    std::string group;  // its writer_placement group, shown by `status` (empty: none)
  };

  void on_message(message& m) {
    switch (role_) {
      case role::none:
        return on_hello(m);
      case role::writer:
        return on_writer_message(m);
      case role::requester:
        if (m.type == message_type::request) return requester_->handle(m.body);
        return refuse_out_of_order(m);
    }
  }

  void refuse_out_of_order(const message& m) {
    conn_->send(ipc::make_error(protocol_errc::out_of_order,
                                std::string("a ") + role_name() + " may not send '" +
                                    std::string(ipc::to_string(m.type)) + "'"));
  }

  void on_hello(message& m) {
    if (m.type != message_type::hello) {
      conn_->send_and_close(ipc::make_error(
          protocol_errc::out_of_order,
          "the first message must be 'hello', not '" + std::string(ipc::to_string(m.type)) + "'"));
      return;
    }
    const auto version = m.body.at("version").get<std::int64_t>();
    if (version != ipc::protocol_version) {
      conn_->send_and_close(ipc::make_error(
          protocol_errc::version_mismatch,
          "this daemon speaks protocol version " + std::to_string(ipc::protocol_version) +
              ", the client asked for version " + std::to_string(version)));
      return;
    }
    const bool writer = m.body.at("role") == "writer";
    const auto wanted = writer ? peer_role::writer : peer_role::requester;
    const auto policy = policy_for(server_.config_, wanted);
    if (!policy.allows(creds_)) {
      auto why = describe_refusal(creds_, wanted, policy);
      server_.log_->warn("event={} refused: {}", event_id::peer_refused, why);
      {
        std::lock_guard lock(server_.mutex_);
        ++server_.refused_;
      }
      conn_->send_and_close(ipc::make_error(protocol_errc::not_authorized, why));
      return;
    }
    client_ = m.body.value("client", std::string{});
    timer_.cancel();
    conn_->send({{"type", "welcome"},
                 {"version", ipc::protocol_version},
                 {"server", "openvssd"},
                 {"pid", ::getpid()},
                 {"heartbeat_ms", server_.config_.heartbeat.count()}});
    if (writer) {
      role_ = role::writer;
      heartbeat();
    } else {
      role_ = role::requester;
      std::weak_ptr<ipc::connection> weak = conn_;
      requester_ =
          std::make_shared<requester_service>(*server_.services_, [weak](nlohmann::json frame) {
            if (auto c = weak.lock()) c->send(frame);
          });
    }
    server_.log_->info("peer pid={} uid={} client='{}' connected as {}", creds_.pid, creds_.uid,
                       client_, role_name());
  }

  void heartbeat() {
    timer_.expires_after(server_.config_.heartbeat);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || !self->conn_->is_open()) return;
      self->conn_->send({{"type", "heartbeat"}});
      self->heartbeat();
    });
  }

  void on_writer_message(message& m) {
    switch (m.type) {
      case message_type::register_writer:
        return on_register(m);
      case message_type::unregister: {
        std::optional<registered> gone;
        {
          std::lock_guard lock(mutex_);
          if (auto it = writers_.find(m.body.at("instance_id").get<std::string>());
              it != writers_.end()) {
            gone.emplace(std::move(it->second));
            writers_.erase(it);
          }
        }
        // Its answers can no longer be routed: what is in flight fails now, not at a deadline.
        if (gone) gone->proxy->connection_lost("the writer unregistered");
        return;
      }
      case message_type::result: {
        std::vector<std::shared_ptr<remote_writer>> proxies;
        {
          std::lock_guard lock(mutex_);
          for (const auto& [id, w] : writers_) proxies.push_back(w.proxy);
        }
        for (const auto& p : proxies) {
          if (!p->deliver_result(m)) continue;
          if (m.body.at("outcome") == "fail") {
            server_.log_->warn("event={} writer '{}' (pid {}) rejected an event with {}: {}",
                               event_id::writer_rejected_event, p->identity().name, creds_.pid,
                               m.body.at("hresult").get<std::string>(),
                               m.body.value("message", std::string{}));
          }
          return;
        }
        return;  // a late answer for an event the engine already settled: nothing to do
      }
      case message_type::lease_expired: {
        const auto id = m.body.at("instance_id").get<std::string>();
        const auto event = m.body.value("event", std::string("freeze"));
        std::shared_ptr<remote_writer> proxy;
        {
          std::lock_guard lock(mutex_);
          if (auto it = writers_.find(id); it != writers_.end()) proxy = it->second.proxy;
        }
        if (proxy) proxy->note_lease_expired(event);
        server_.log_->warn("event={} writer {} (pid {}) thawed itself: its lease ran out during {}",
                           event_id::writer_lease_expired, id, creds_.pid, event);
        return;
      }
      default:
        return refuse_out_of_order(m);
    }
  }

  void on_register(message& m) {
    const auto ref = m.body.at("id").get<std::int64_t>();
    writer_identity identity;
    try {
      identity = ipc::identity_from_json(m.body.at("writer"));
    } catch (const ipc::bad_field& e) {
      conn_->send(ipc::make_error(protocol_errc::bad_message, e.what(), ref));
      return;
    }
    // The proxy answers on engine threads; it must never block them.
    identity.execution = handler_execution::non_blocking;
    std::weak_ptr<ipc::connection> weak = conn_;
    auto services = server_.services_;
    auto proxy = std::make_shared<remote_writer>(
        identity,
        [weak](const nlohmann::json& frame) {
          auto c = weak.lock();
          if (!c || !c->is_open()) return false;
          c->send(frame);
          return true;
        },
        [this_peer = weak_from_this()] {
          auto p = this_peer.lock();
          return p ? p->next_seq_.fetch_add(1, std::memory_order_relaxed) : 0;
        },
        [services](const remote_writer& w, const writer_context& ctx) {
          services->notify_writer_event(ctx.snapshot_set(), w.identity().instance_id, ctx.event());
        });
    auto& engine = server_.engine_;
    proxy->inject_faults(
        [services, &engine](const remote_writer& w,
                            const writer_context& ctx) -> std::optional<mocks::fault> {
          const auto plan = services->plan_for(ctx.snapshot_set());
          if (!plan) return std::nullopt;
          // Index selectors (writer[0], first, last, ...) count the registered writers in
          // registration order; names select by the writer's name.
          const auto all = engine.registered_writers();
          std::size_t index = 0;
          while (index < all.size() && all[index].instance_id != w.identity().instance_id) ++index;
          return plan->writer_fault(index, all.size(), w.identity().name, ctx.event());
        },
        conn_->strand());
    // Validated by decode_message (ipc::is_valid_group).
    writer_placement placement;
    if (auto g = m.body.find("group"); g != m.body.end()) placement.group = g->get<std::string>();
    std::error_code ec;
    auto registration = server_.engine_.register_writer(proxy, placement, ec);
    if (ec) {
      conn_->send(ipc::make_error(protocol_errc::vss_error,
                                  "cannot register writer '" + identity.name + "': " + ec.message(),
                                  ref, static_cast<errc>(ec.value())));
      return;
    }
    const auto id = proxy->identity().instance_id.to_string();
    {
      std::lock_guard lock(mutex_);
      writers_[id] = registered{proxy, std::move(registration), placement.group};
    }
    nlohmann::json reply{{"type", "registered"}, {"id", ref}, {"instance_id", id}};
    // Echoed, so that a client can tell it was honoured (a daemon without groups omits it).
    if (!placement.group.empty()) reply["group"] = placement.group;
    conn_->send(reply);
    server_.log_->info(
        "event={} writer '{}' instance {} registered by pid {}{}", event_id::writer_connected,
        identity.name, id, creds_.pid,
        placement.group.empty() ? std::string() : " in placement group '" + placement.group + "'");
  }

  void on_closed(std::error_code why) {
    timer_.cancel();
    std::unordered_map<std::string, registered> writers;
    {
      std::lock_guard lock(mutex_);
      writers.swap(writers_);
    }
    for (auto& [id, w] : writers) {
      const auto reason = "the writer's connection closed (" + why.message() + ")";
      server_.log_->warn("event={} writer '{}' instance {} (pid {}): {}",
                         event_id::writer_not_responding, w.proxy->identity().name, id, creds_.pid,
                         reason);
      w.proxy->connection_lost(reason);
      w.registration.disconnect();
    }
    if (requester_) {
      server_.log_->info("event={} requester pid {} disconnected ({}): aborting its sessions",
                         event_id::requester_disconnected, creds_.pid, why.message());
      requester_->disconnect();
      requester_.reset();
    }
    server_.forget(shared_from_this());
  }

  server& server_;
  std::shared_ptr<ipc::connection> conn_;
  asio::steady_timer timer_;  // hello deadline, then heartbeats; on the connection's strand
  peer_credentials creds_{};
  bool creds_ok_ = false;
  std::atomic<role> role_{role::none};
  std::string client_;
  std::atomic<std::uint64_t> next_seq_{1};
  std::shared_ptr<requester_service> requester_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, registered> writers_;
};

server::server(asio::any_io_executor executor, vss::engine& engine, daemon_config config,
               std::shared_ptr<spdlog::logger> log)
    : executor_(std::move(executor)),
      engine_(engine),
      config_(std::move(config)),
      log_(std::move(log)),
      services_(std::make_shared<service_context>(engine_)),
      accept_strand_(asio::make_strand(executor_)),
      acceptor_(accept_strand_),
      retry_timer_(accept_strand_) {
  services_->status = [this] { return status(); };
  services_->refuse_provider_faults(
      "the daemon's providers are real; inject writer rules or an abort trigger only");
  services_->log = [log = log_](int event_id, bool error, const std::string& text) {
    if (error) {
      log->error("event={} {}", event_id, text);
    } else {
      log->info("event={} {}", event_id, text);
    }
  };
}

server::~server() {
  stop();
  // Handlers of peers and of the acceptor refer to this object: wait until they are done.
  wait_idle(std::chrono::seconds(10));
}

std::error_code server::listen() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(config_.socket_path);
  if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) return ec;
    ::chmod(path.parent_path().c_str(), 0755);
  }
  if (fs::exists(path, ec)) {
    // Someone listening there? Then it is theirs. Otherwise it is a stale socket of ours.
    asio::local::stream_protocol::socket probe(executor_);
    probe.connect(asio::local::stream_protocol::endpoint(config_.socket_path), ec);
    if (!ec) return make_error_code(std::errc::address_in_use);
    fs::remove(path, ec);
  }
  ec.clear();
  acceptor_.open(asio::local::stream_protocol(), ec);
  if (!ec) acceptor_.bind(asio::local::stream_protocol::endpoint(config_.socket_path), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  if (::chmod(config_.socket_path.c_str(), config_.socket_mode) != 0) {
    return {errno, std::generic_category()};
  }
  if (config_.socket_group) {
    if (::chown(config_.socket_path.c_str(), static_cast<uid_t>(-1), *config_.socket_group) != 0) {
      return {errno, std::generic_category()};
    }
  }
  owns_socket_file_ = true;
  log_->info("listening on {} (mode {:o})", config_.socket_path, config_.socket_mode);
  accept_next();
  return {};
}

std::error_code server::adopt(int listening_fd) {
  std::error_code ec;
  acceptor_.assign(asio::local::stream_protocol(), listening_fd, ec);
  if (ec) return ec;
  log_->info("accepting on the socket systemd passed (fd {})", listening_fd);
  accept_next();
  return {};
}

void server::accept_next() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      accepting_ = false;
      idle_.notify_all();
      return;
    }
    accepting_ = true;
  }
  acceptor_.async_accept(
      asio::make_strand(executor_),
      [this](std::error_code ec, asio::local::stream_protocol::socket socket) {
        if (ec) {
          if (ec == asio::error::operation_aborted) return accept_stopped();
          log_->error("event={} accept failed: {}", event_id::unexpected_error, ec.message());
          // E.g. EMFILE: retrying at once would spin; give descriptors time to come back.
          retry_timer_.expires_after(std::chrono::milliseconds(100));
          retry_timer_.async_wait([this](std::error_code) { accept_next(); });
          return;  // still accepting: the retry ends the loop if stop() came meanwhile
        } else {
          auto p = std::make_shared<peer>(*this, std::move(socket));
          bool busy = false;
          {
            std::lock_guard lock(mutex_);
            if (stopped_) {
              // Accepted just as stop() ran: drop it, and end the accept loop for wait_idle.
              accepting_ = false;
              idle_.notify_all();
              return;
            }
            ++accepted_;
            busy = peers_.size() >= config_.max_connections;
            if (!busy) peers_.insert(p);
          }
          if (busy) {
            log_->warn("event={} refusing a connection: max_connections ({}) reached",
                       event_id::peer_refused, config_.max_connections);
            p->refuse_busy();
          } else {
            p->start();
          }
        }
        accept_next();
      });
}

void server::accept_stopped() {
  std::lock_guard lock(mutex_);
  accepting_ = false;
  idle_.notify_all();
}

void server::forget(const std::shared_ptr<peer>& p) {
  std::lock_guard lock(mutex_);
  peers_.erase(p);
  idle_.notify_all();
}

bool server::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout,
                        [&] { return peers_.empty() && !accepting_ && !close_pending_; });
}

void server::stop() {
  std::set<std::shared_ptr<peer>> peers;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    peers = peers_;
  }
  // The acceptor is not thread-safe: close it where its accept runs, never beside it.
  {
    std::lock_guard lock(mutex_);
    close_pending_ = true;
  }
  asio::post(accept_strand_, [this] {
    std::error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    std::lock_guard lock(mutex_);
    close_pending_ = false;
    idle_.notify_all();
  });
  for (const auto& p : peers) p->close();
  std::error_code ignored;
  if (owns_socket_file_) std::filesystem::remove(config_.socket_path, ignored);
}

nlohmann::json server::status() const {
  std::lock_guard lock(mutex_);
  nlohmann::json peers = nlohmann::json::array();
  std::size_t writers = 0, requesters = 0;
  for (const auto& p : peers_) {
    auto d = p->describe();
    if (d["role"] == "writer") ++writers;
    if (d["role"] == "requester") ++requesters;
    peers.push_back(std::move(d));
  }
  const auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  return {
      {"daemon", "openvssd"},
      {"pid", ::getpid()},
      {"socket", config_.socket_path},
      {"uptime_ms", uptime.count()},
      {"connections", {{"writer", writers}, {"requester", requesters}, {"total", peers_.size()}}},
      {"accepted", accepted_},
      {"refused", refused_},
      {"registered_writers", engine_.registered_writers().size()},
      {"peers", std::move(peers)}};
}

}  // namespace vss::daemon
