#pragma once
// A provider for tests: a memory_provider whose steps can be held (completed later by the
// test), failed with a chosen code, and which counts every call.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "vss/memory_provider.hpp"

namespace vss::test {

enum class provider_call {
  end_prepare,
  pre_commit,
  commit,
  post_commit,
  pre_final_commit,
  post_final_commit,
  abort
};

class holding_provider : public memory_provider {
 public:
  void hold(provider_call c) {
    std::lock_guard lock(mutex_);
    hold_[c] = true;
  }
  void fail(provider_call c, std::error_code ec) {
    std::lock_guard lock(mutex_);
    fail_[c] = ec;
  }
  /// Completes a held call (running the real memory_provider step first, unless failing).
  bool release(provider_call c, std::error_code ec = {}) {
    completion done;
    {
      std::lock_guard lock(mutex_);
      auto it = held_.find(c);
      if (it == held_.end()) return false;
      done = std::move(it->second);
      held_.erase(it);
    }
    done(ec);
    return true;
  }
  /// What flush_and_hold_paths answers from now on.
  void set_hold_paths(std::vector<std::string> paths) {
    std::lock_guard lock(mutex_);
    hold_paths_ = std::move(paths);
  }
  std::vector<std::string> flush_and_hold_paths(const snapshot_set_id&) const override {
    std::lock_guard lock(mutex_);
    return hold_paths_;
  }
  bool is_held(provider_call c) const {
    std::lock_guard lock(mutex_);
    return held_.count(c) != 0;
  }
  int calls(provider_call c) const {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(c);
    return it == calls_.end() ? 0 : it->second;
  }

  void end_prepare_snapshots(const snapshot_set_id& s, completion d) override {
    step(provider_call::end_prepare, std::move(d),
         [this, s](completion c) { memory_provider::end_prepare_snapshots(s, std::move(c)); });
  }
  void pre_commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(provider_call::pre_commit, std::move(d),
         [this, s](completion c) { memory_provider::pre_commit_snapshots(s, std::move(c)); });
  }
  void commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(provider_call::commit, std::move(d),
         [this, s](completion c) { memory_provider::commit_snapshots(s, std::move(c)); });
  }
  void post_commit_snapshots(const snapshot_set_id& s, std::int32_t n, completion d) override {
    step(provider_call::post_commit, std::move(d), [this, s, n](completion c) {
      memory_provider::post_commit_snapshots(s, n, std::move(c));
    });
  }
  void pre_final_commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(provider_call::pre_final_commit, std::move(d),
         [this, s](completion c) { memory_provider::pre_final_commit_snapshots(s, std::move(c)); });
  }
  void post_final_commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(provider_call::post_final_commit, std::move(d), [this, s](completion c) {
      memory_provider::post_final_commit_snapshots(s, std::move(c));
    });
  }
  void abort_snapshots(const snapshot_set_id& s, completion d) override {
    step(provider_call::abort, std::move(d),
         [this, s](completion c) { memory_provider::abort_snapshots(s, std::move(c)); });
  }

 private:
  template <class Real>
  void step(provider_call c, completion done, Real real) {
    bool hold = false;
    std::error_code fail;
    {
      std::lock_guard lock(mutex_);
      ++calls_[c];
      hold = hold_[c];
      fail = fail_[c];
    }
    if (fail) return done(fail);
    if (!hold) return real(std::move(done));
    // Held: the real step runs when the test releases it (success) — its result then wins
    // unless the test passes its own code.
    completion deferred = [real, done = std::move(done)](std::error_code ec) mutable {
      if (ec) return done(ec);
      real(std::move(done));
    };
    std::lock_guard lock(mutex_);
    held_[c] = std::move(deferred);
  }

  mutable std::mutex mutex_;
  std::map<provider_call, bool> hold_;
  std::map<provider_call, std::error_code> fail_;
  std::map<provider_call, completion> held_;
  std::map<provider_call, int> calls_;
  std::vector<std::string> hold_paths_;
};

}  // namespace vss::test
