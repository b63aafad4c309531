#include "cli/embedded_channel.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include "cli/exit_codes.hpp"
#include "vss/memory_provider.hpp"
#include "vss/mocks/fault_plan.hpp"

namespace vss::cli {

using json = nlohmann::json;

namespace {

// How often a wait looks at the stop flag.
constexpr std::chrono::milliseconds poll_interval{50};

}  // namespace

embedded_channel::embedded_channel(std::size_t demo_writers, wait_limits limits) : limits_(limits) {
  host_ = std::make_unique<vss::engine_host>(vss::host_options{.io_threads = 2});
  auto& engine = host_->engine();
  const auto clock = engine.options().clock;
  const auto executor = host_->io_context().get_executor();
  provider_ = std::make_shared<vss::mocks::faulty_provider>(
      std::make_shared<vss::memory_provider>(), clock, executor);
  if (auto ec = engine.register_provider(provider_)) {
    throw cli_error(exit_code::vss_error, "cannot register the memory provider: " + ec.message());
  }
  recorder_ = std::make_shared<vss::mocks::event_recorder>(clock);
  const vss::application_level levels[] = {vss::application_level::front_end,
                                           vss::application_level::back_end,
                                           vss::application_level::system};
  for (std::size_t i = 0; i < demo_writers; ++i) {
    auto w = std::make_shared<vss::mocks::fake_writer>(
        "writer-" + std::to_string(i), levels[i % 3],
        vss::mocks::fake_writer_options{
            .clock = clock, .executor = executor, .recorder = recorder_});
    registrations_.push_back(engine.register_writer(w));
    writers_.push_back(std::move(w));
  }
  context_ = std::make_unique<vss::daemon::service_context>(engine);
  context_->status = [n = demo_writers] { return json{{"mode", "embedded"}, {"demo_writers", n}}; };
  recorder_->set_listener(
      [notify = context_->writer_event_sink()](const vss::mocks::recorded_event& e) {
        notify(e.set, e.instance, e.event);
      });
  provider_->set_listener(
      [notify = context_->provider_call_sink()](vss::mocks::provider_call c) { notify({}, c); });
  service_ = std::make_unique<vss::daemon::requester_service>(*context_, [this](json frame) {
    {
      std::lock_guard lock(mutex_);
      inbox_.push_back(std::move(frame));
    }
    arrived_.notify_all();
  });
}

embedded_channel::~embedded_channel() {
  service_.reset();
  context_.reset();
  recorder_->set_listener({});
  provider_->set_listener({});
  registrations_.clear();
  writers_.clear();
  host_.reset();
}

std::optional<json> embedded_channel::apply_plan(const json& args, std::int64_t id) {
  for (auto& w : writers_) {
    for (std::size_t e = 0; e < vss::writer_event_count; ++e) {
      w->on(static_cast<vss::writer_event>(e), vss::mocks::fault::succeed());
    }
  }
  for (std::size_t c = 0; c < vss::mocks::provider_call_count; ++c) {
    provider_->on(static_cast<vss::mocks::provider_call>(c), vss::mocks::fault::succeed());
  }
  const auto it = args.find("inject");
  if (it == args.end() || !it->is_string()) return std::nullopt;
  auto parsed = vss::mocks::fault_plan::parse(it->get<std::string>());
  if (!parsed) return std::nullopt;  // the service rejects it, naming the column
  const auto& plan = *parsed.plan;
  try {
    for (std::size_t i = 0; i < writers_.size(); ++i) {
      for (std::size_t e = 0; e < vss::writer_event_count; ++e) {
        const auto event = static_cast<vss::writer_event>(e);
        if (auto f = plan.writer_fault(i, writers_.size(), writers_[i]->identity().name, event)) {
          writers_[i]->on(event, *f);
        }
      }
    }
    for (std::size_t c = 0; c < vss::mocks::provider_call_count; ++c) {
      const auto call = static_cast<vss::mocks::provider_call>(c);
      if (auto f = plan.provider_fault(call)) provider_->on(call, *f);
    }
  } catch (const std::invalid_argument& e) {
    return json{{"type", "error"},
                {"code", "bad_message"},
                {"message", std::string("args.inject: ") + e.what()},
                {"ref", id}};
  }
  return std::nullopt;
}

json embedded_channel::call(const std::string& op, const json& args,
                            const progress_fn& on_progress) {
  const std::int64_t id = next_id_++;
  if (op == "backup" && args.is_object()) {
    if (auto refused = apply_plan(args, id)) return *refused;
  }
  recorder_->clear();  // only the live notifications matter; keep memory flat over many calls
  json request = {{"type", "request"}, {"id", id}, {"op", op}};
  if (!args.is_null()) request["args"] = args;
  service_->handle(request);

  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (limits_.timeout) deadline = std::chrono::steady_clock::now() + *limits_.timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!inbox_.empty()) {
      json m = std::move(inbox_.front());
      inbox_.pop_front();
      const std::string type = m.value("type", "");
      if (type == "progress" && m.value("id", std::int64_t{-1}) == id) {
        if (on_progress) {
          lock.unlock();
          on_progress(m);
          lock.lock();
        }
      } else if ((type == "reply" && m.value("id", std::int64_t{-1}) == id) ||
                 (type == "error" && m.value("ref", id) == id)) {
        return m;
      }
    }
    const bool stopped = limits_.stop != nullptr && limits_.stop->load();
    const bool late = deadline && std::chrono::steady_clock::now() >= *deadline;
    if (stopped || late) {
      lock.unlock();
      // As a dropped daemon connection: abort what this requester started.
      service_->disconnect();
      throw cli_error(
          stopped ? exit_code::aborted : exit_code::timeout,
          stopped ? "interrupted; the request was aborted" : "timed out; the request was aborted");
    }
    arrived_.wait_for(lock, poll_interval);
  }
}

std::string embedded_channel::describe() const {
  return "embedded engine with " + std::to_string(writers_.size()) +
         " demo writer(s) and a memory provider";
}

}  // namespace vss::cli
