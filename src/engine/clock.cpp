#include "vss/clock.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <vector>

#include "vss/manual_clock.hpp"

namespace vss {
namespace {

class steady_timer_adapter final : public timer {
 public:
  explicit steady_timer_adapter(const asio::any_io_executor& ex) : timer_(ex) {}

  void async_wait_until(time_point deadline, std::function<void(bool)> fn) override {
    // expires_at cancels a pending wait, whose handler then sees operation_aborted -> false.
    timer_.expires_at(deadline);
    timer_.async_wait([fn = std::move(fn)](const std::error_code& ec) { fn(!ec); });
  }

  void cancel() override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

class steady_source final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  std::unique_ptr<timer> create_timer(const asio::any_io_executor& ex) override {
    return std::make_unique<steady_timer_adapter>(ex);
  }
};

}  // namespace

std::shared_ptr<clock> steady_clock_source() {
  static const auto source = std::make_shared<steady_source>();
  return source;
}

struct manual_clock::entry {
  asio::any_io_executor executor;
  std::function<void(bool)> fn;
  time_point deadline;
  bool armed = false;
};

class manual_clock::manual_timer final : public timer {
 public:
  manual_timer(std::shared_ptr<manual_clock> owner, asio::any_io_executor ex)
      : owner_(std::move(owner)), executor_(std::move(ex)) {}
  ~manual_timer() override { cancel(); }

  void async_wait_until(time_point deadline, std::function<void(bool)> fn) override {
    cancel();
    current_ = std::make_shared<entry>(entry{executor_, std::move(fn), deadline, false});
    owner_->arm(current_);
  }

  void cancel() override {
    if (current_) {
      owner_->disarm(current_);
      current_.reset();
    }
  }

 private:
  std::shared_ptr<manual_clock> owner_;
  asio::any_io_executor executor_;
  std::shared_ptr<entry> current_;
};

manual_clock::manual_clock(time_point start) : now_(start) {}

clock::time_point manual_clock::now() const noexcept {
  std::lock_guard lock(mutex_);
  return now_;
}

std::unique_ptr<timer> manual_clock::create_timer(const asio::any_io_executor& ex) {
  return std::make_unique<manual_timer>(shared_from_this(), ex);
}

void manual_clock::arm(const std::shared_ptr<entry>& e) {
  std::unique_lock lock(mutex_);
  if (e->deadline <= now_) {
    lock.unlock();
    asio::post(e->executor, [fn = std::move(e->fn)] { fn(true); });
    return;
  }
  e->armed = true;
  armed_.emplace(e->deadline, e);
}

void manual_clock::disarm(const std::shared_ptr<entry>& e) {
  std::unique_lock lock(mutex_);
  if (!e->armed) return;  // already fired (or fired inline at arm time)
  e->armed = false;
  auto [first, last] = armed_.equal_range(e->deadline);
  for (auto it = first; it != last; ++it) {
    if (it->second == e) {
      armed_.erase(it);
      break;
    }
  }
  lock.unlock();
  asio::post(e->executor, [fn = std::move(e->fn)] { fn(false); });
}

void manual_clock::advance(duration d) { advance_to(now() + d); }

void manual_clock::advance_to(time_point t) {
  std::vector<std::shared_ptr<entry>> due;
  {
    std::lock_guard lock(mutex_);
    if (t > now_) now_ = t;
    auto end = armed_.upper_bound(now_);
    for (auto it = armed_.begin(); it != end; ++it) {
      it->second->armed = false;
      due.push_back(std::move(it->second));
    }
    armed_.erase(armed_.begin(), end);
  }
  for (auto& e : due) asio::post(e->executor, [fn = std::move(e->fn)] { fn(true); });
}

bool manual_clock::advance_to_next() {
  time_point next;
  {
    std::lock_guard lock(mutex_);
    if (armed_.empty()) return false;
    next = armed_.begin()->first;
  }
  advance_to(next);
  return true;
}

std::size_t manual_clock::pending_timers() const {
  std::lock_guard lock(mutex_);
  return armed_.size();
}

}  // namespace vss
