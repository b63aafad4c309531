// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/mocks/checked_handler.hpp — completion handlers that check the "exactly once" rule of
// every openvss asynchronous operation, for GoogleTest tests.
//
// `checked_handler<Signature>` (Beast's test::handler) records the arguments it is called with
// and fails the test — at the line where it was created — if it runs twice, or if it never
// ran by the time the checker is destroyed or verify() is called. `mock_handler` (libunifex's
// mock_receiver) is a gMock mock whose `handler()` is a movable completion handler forwarding
// to `call(std::error_code)`, for EXPECT_CALL-style expectations on a completion.
//
// Both work with every `async_*` initiating function of openvss (completion signature
// void(std::error_code)): pass `h` (copied), `std::move(h)`, a temporary, or `h.handler()`.
//
// Example 1 — a checker owned by the test; the test fails if DoSnapshotSet never completes or
// completes twice:
//
//   vss::mocks::checked_handler<> done;                  // Signature defaults to void(error_code)
//   session.async_do_snapshot_set(done.handler());
//   io.run();
//   ASSERT_TRUE(done.called());
//   EXPECT_THAT(done.error(), vss::mocks::IsOk());       // vss/mocks/matchers.hpp
//   // had `done` not run, leaving the scope would add a failure at its declaration
//
// Example 2 — gMock expectations on a completion, including "not yet":
//
//   vss::mocks::mock_handler aborted;
//   session.async_do_snapshot_set(aborted.handler());
//   io.poll();                                           // held in Freeze: nothing completes
//   testing::Mock::VerifyAndClearExpectations(&aborted); // no call so far (uninteresting = fail
//                                                        // with StrictMock<mock_handler>)
//   EXPECT_CALL(aborted, call(vss::mocks::IsAborted()));
//   session.async_abort_backup(vss::mocks::checked_handler<>());  // a temporary checks itself
//   io.poll();
//
// Ownership of the check: the checker object created by the test owns the "must have run"
// check. Copies (handler(), or passing the checker as an lvalue) are plain handles on the same
// record and never check on destruction; moving a checker moves the check with it, so a
// checker passed as a temporary or with std::move fails the test if the operation destroys it
// without running it. A moved-from checker still answers called(), result() and friends. If an
// intermediary copies handlers and may destroy the original before the copy runs, pass
// `h.handler()` and keep `h`.
//
// Thread-safety: a handler may run on any thread (engine threads included), concurrently with
// the test reading called(), calls(), result() or error() or waiting in wait_for(); failures
// are reported with ADD_FAILURE_AT, which GoogleTest accepts from any thread. Assigning to a
// checker object while another thread uses that same object is a data race, as for any value.

#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace vss::mocks {

/// A completion handler that checks it runs exactly once. Only function signatures returning
/// void are supported: `checked_handler<void(std::error_code)>` (the default),
/// `checked_handler<void(std::error_code, std::size_t)>`, ...
template <class Signature = void(std::error_code)>
class checked_handler;

/// checked_handler for the completion signature `void(Args...)`.
template <class... Args>
class checked_handler<void(Args...)> {
 public:
  /// The recorded arguments of the first call, decayed (`const std::error_code&` is stored as
  /// `std::error_code`).
  using result_type = std::tuple<std::decay_t<Args>...>;

  /// True when the first argument of the signature is a std::error_code (error() exists).
  static constexpr bool first_is_error_code = [] {
    if constexpr (sizeof...(Args) == 0) {
      return false;
    } else {
      return std::is_same_v<std::tuple_element_t<0, result_type>, std::error_code>;
    }
  }();

  /// A checker that owns the "ran exactly once" check. `file` and `line` default to the place
  /// of construction (every failure is reported there); pass them only when wrapping.
  explicit checked_handler(const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : state_(std::make_shared<state>(file, line)), owner_(true) {}

  /// A handle on the same record that does not own the check (see the file comment).
  checked_handler(const checked_handler& other) noexcept : state_(other.state_), owner_(false) {}

  /// Takes over `other`'s check; `other` keeps reading the same record but no longer checks.
  checked_handler(checked_handler&& other) noexcept
      : state_(other.state_), owner_(std::exchange(other.owner_, false)) {}

  /// Ends this object's own check (as the destructor does), then becomes a non-owning handle
  /// on `other`'s record.
  checked_handler& operator=(const checked_handler& other) {
    if (this != &other) {
      check_on_release();
      state_ = other.state_;
      owner_ = false;
    }
    return *this;
  }

  /// Ends this object's own check (as the destructor does), then takes over `other`'s.
  checked_handler& operator=(checked_handler&& other) {
    if (this != &other) {
      check_on_release();
      state_ = other.state_;
      owner_ = std::exchange(other.owner_, false);
    }
    return *this;
  }

  /// If this object owns the check and the handler never ran (and verify() did not already
  /// say so), adds a non-fatal failure at the creation site.
  ~checked_handler() { check_on_release(); }

  /// Runs the handler: records the arguments of the first call and counts every call. A second
  /// (or later) call adds a non-fatal failure at the creation site.
  void operator()(Args... args) const {
    std::size_t n = 0;
    {
      std::lock_guard lock(state_->mutex);
      n = ++state_->calls;
      if (n == 1) state_->result.emplace(std::move(args)...);
    }
    state_->ran.notify_all();
    if (n > 1) {
      ADD_FAILURE_AT(state_->file, state_->line)
          << "checked_handler created here ran " << n << " times; a completion handler must "
          << "run exactly once";
    }
  }

  /// A non-owning handle to pass to an initiating function while the test keeps this checker.
  checked_handler handler() const noexcept { return checked_handler(*this); }

  /// True once the handler ran at least once.
  bool called() const { return calls() != 0; }

  /// How many times the handler ran (more than 1 has already failed the test).
  std::size_t calls() const {
    std::lock_guard lock(state_->mutex);
    return state_->calls;
  }

  /// The arguments of the first call. Before the handler ran, adds a non-fatal failure and
  /// returns a value-initialised tuple.
  result_type result() const {
    {
      std::lock_guard lock(state_->mutex);
      if (state_->result) return *state_->result;
    }
    ADD_FAILURE_AT(state_->file, state_->line)
        << "checked_handler created here: result() read before the handler ran";
    return result_type{};
  }

  /// For signatures whose first argument is a std::error_code: that argument of the first call.
  /// Before the handler ran, adds a non-fatal failure and returns
  /// `std::errc::operation_in_progress`, so that no expectation on the result (IsOk(),
  /// IsAborted(), ...) passes by accident.
  std::error_code error() const requires first_is_error_code {
    {
      std::lock_guard lock(state_->mutex);
      if (state_->result) return std::get<0>(*state_->result);
    }
    ADD_FAILURE_AT(state_->file, state_->line)
        << "checked_handler created here: error() read before the handler ran";
    return std::make_error_code(std::errc::operation_in_progress);
  }

  /// Blocks until the handler has run or `timeout` passed; returns called(). For tests whose
  /// engine runs on other threads (vss::engine_host); with a single-threaded io_context drive
  /// the context instead.
  bool wait_for(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_->mutex);
    return state_->ran.wait_for(lock, timeout, [this] { return state_->calls != 0; });
  }

  /// Checks now that the handler ran exactly once: returns true if so; if it never ran, adds a
  /// non-fatal failure at the creation site (once: the destructor will not repeat it) and
  /// returns false; if it ran more than once (already reported), returns false.
  bool verify() const {
    {
      std::lock_guard lock(state_->mutex);
      if (state_->calls != 0) return state_->calls == 1;
      state_->never_ran_reported = true;
    }
    ADD_FAILURE_AT(state_->file, state_->line)
        << "checked_handler created here: verify() found that the handler never ran";
    return false;
  }

  /// True if this object owns the "must have run" check.
  bool owns_check() const noexcept { return owner_; }

  /// Where the checker was created (the file reported with every failure).
  const char* file() const noexcept { return state_->file; }

  /// The line where the checker was created.
  int line() const noexcept { return state_->line; }

 private:
  struct state {
    state(const char* f, int l) : file(f), line(l) {}
    const char* file;
    int line;
    std::mutex mutex;
    std::condition_variable ran;
    std::size_t calls = 0;
    bool never_ran_reported = false;
    std::optional<result_type> result;
  };

  void check_on_release() {
    if (!owner_) return;
    owner_ = false;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->calls != 0 || state_->never_ran_reported) return;
      state_->never_ran_reported = true;
    }
    ADD_FAILURE_AT(state_->file, state_->line)
        << "checked_handler created here was destroyed without the handler ever running";
  }

  std::shared_ptr<state> state_;
  bool owner_;
};

/// Lets `checked_handler h;` mean `checked_handler<void(std::error_code)> h;`.
checked_handler()->checked_handler<void(std::error_code)>;

/// A gMock mock of a `void(std::error_code)` completion handler. Set expectations on `call`
/// and pass `handler()` to an initiating function. Wrap it in testing::StrictMock to fail on
/// any call not expected, or testing::NiceMock to ignore them.
///
/// A gMock mock can be neither copied nor moved, while a completion handler must be movable:
/// handler() returns a small copyable object that forwards to this mock (libunifex's
/// mock_receiver idea). If the handler runs after the mock was destroyed it adds a non-fatal
/// failure (at the line where the mock was created) instead of touching freed memory.
class mock_handler {
 public:
  /// The completion handler type returned by handler(): copyable, movable, callable with a
  /// std::error_code from any thread.
  class handler_type {
   public:
    /// Forwards to mock_handler::call, or reports that the mock is gone.
    void operator()(std::error_code ec) const {
      std::lock_guard lock(link_->mutex);
      if (link_->target != nullptr) {
        link_->target->call(ec);
        return;
      }
      ADD_FAILURE_AT(link_->file, link_->line)
          << "the handler of the mock_handler created here ran after the mock was destroyed";
    }

   private:
    friend class mock_handler;
    struct link {
      std::recursive_mutex mutex;  // recursive: an action of call() may run the handler again
      mock_handler* target = nullptr;
      const char* file = nullptr;
      int line = 0;
    };
    explicit handler_type(std::shared_ptr<link> l) noexcept : link_(std::move(l)) {}
    std::shared_ptr<link> link_;
  };

  /// A mock with no expectations. `file` and `line` default to the place of construction
  /// (inside testing::StrictMock or testing::NiceMock that is gMock's header: pass __FILE__,
  /// __LINE__ through their constructor when the location matters).
  explicit mock_handler(const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : link_(std::make_shared<handler_type::link>()) {
    link_->target = this;
    link_->file = file;
    link_->line = line;
  }

  /// Detaches every handler (a later run reports a failure), then gMock verifies the
  /// expectations. Waits for a handler that is running right now to return.
  virtual ~mock_handler() {
    std::lock_guard lock(link_->mutex);
    link_->target = nullptr;
  }

  mock_handler(const mock_handler&) = delete;
  mock_handler& operator=(const mock_handler&) = delete;

  /// The completion: called once per run of a handler() copy, with the operation's result.
  MOCK_METHOD(void, call, (std::error_code ec));

  /// A completion handler that forwards to call(). Every copy forwards to this mock.
  handler_type handler() const { return handler_type(link_); }

 private:
  std::shared_ptr<handler_type::link> link_;
};

}  // namespace vss::mocks
