#pragma once
// The `openvss` CLI without a daemon: an in-process engine (vss::engine_host) with a memory
// provider wrapped in a vss::mocks::faulty_provider, `demo_writers` vss::mocks::fake_writer
// instances ("writer-0", "writer-1", ...; levels front-end, back-end, system in turn; one
// component "<name>-data" on /data each), and the daemon's requester_service, called directly.
//
// A `backup` request's `inject` plan is applied here, as openvssd's writer and provider hosts
// would: its writer rules script the fake writers and its provider rules the faulty provider
// (everything else succeeds); the service fires its abort trigger. The writers report each
// event to the service (live progress, abort_after at writer phases). Nothing outlives the
// process: snapshots live in memory.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "cli/requester_channel.hpp"
#include "daemon/requester_service.hpp"
#include "vss/engine_host.hpp"
#include "vss/mocks/event_recorder.hpp"
#include "vss/mocks/fake_writer.hpp"
#include "vss/mocks/faulty_provider.hpp"

namespace vss::cli {

/// The in-process requester channel.
class embedded_channel final : public requester_channel {
 public:
  /// Starts an engine with `demo_writers` fake writers.
  embedded_channel(std::size_t demo_writers, wait_limits limits);
  /// Disconnects (aborting what still runs) and stops the engine.
  ~embedded_channel() override;

  embedded_channel(const embedded_channel&) = delete;
  embedded_channel& operator=(const embedded_channel&) = delete;

  nlohmann::json call(const std::string& op, const nlohmann::json& args,
                      const progress_fn& on_progress) override;
  std::string describe() const override;

 private:
  // Scripts the writers and the provider from a plan; an error body if it cannot apply.
  std::optional<nlohmann::json> apply_plan(const nlohmann::json& args, std::int64_t id);

  wait_limits limits_;
  std::unique_ptr<vss::engine_host> host_;
  std::shared_ptr<vss::mocks::faulty_provider> provider_;
  std::shared_ptr<vss::mocks::event_recorder> recorder_;
  std::vector<std::shared_ptr<vss::mocks::fake_writer>> writers_;
  std::vector<vss::writer_registration> registrations_;
  std::unique_ptr<vss::daemon::service_context> context_;
  std::unique_ptr<vss::daemon::requester_service> service_;

  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<nlohmann::json> inbox_;
  std::int64_t next_id_ = 1;
};

}  // namespace vss::cli
