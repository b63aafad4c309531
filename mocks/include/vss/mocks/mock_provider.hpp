// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/mocks/mock_provider.hpp — a gMock snapshot provider: one MOCK_METHOD per virtual member
// of vss::provider, for tests that assert which provider steps the engine calls, in which
// order and with which arguments (use vss/mocks/faulty_provider.hpp to inject failures into a
// whole flow).
//
// The asynchronous steps take a `vss::provider::completion` (a std::function called exactly
// once); CompleteWith(ec) is the action that calls it, SaveCompletion(&done) moves it out so
// the test can finish the step later. The synchronous members return their result: use
// testing::Return.
//
// Defaults: the constructor installs ON_CALL defaults that make the mock a provider that
// accepts every volume and snapshots nothing: properties() names it (a fresh provider id, name
// "openvss mock provider"), is_volume_supported() is true, begin_prepare_snapshot() and every
// step succeed at once, query() is empty, get_snapshot_properties() and delete_snapshot()
// return VSS_E_OBJECT_NOT_FOUND. delegate_to(real) replaces all of them with calls forwarding
// to a real provider (for example a vss::memory_provider), so a test mocks only the calls it
// cares about and the rest behaves for real.
//
// Example 1 — assert the commit protocol, everything else real:
//
//   auto p = std::make_shared<testing::NiceMock<vss::mocks::mock_provider>>();
//   p->delegate_to(std::make_shared<vss::memory_provider>());   // before register_provider
//   {
//     testing::InSequence seq;
//     EXPECT_CALL(*p, pre_commit_snapshots(_, _));              // default: forwards
//     EXPECT_CALL(*p, commit_snapshots(_, _));
//     EXPECT_CALL(*p, post_commit_snapshots(_, 1, _));
//   }
//   engine.register_provider(p);
//   ... run a backup of one volume ...
//
// Example 2 — a provider that vetoes the commit, and one whose EndPrepare the test finishes:
//
//   EXPECT_CALL(*p, commit_snapshots(_, _))
//       .WillOnce(vss::mocks::CompleteWith(vss::errc::provider_veto));
//
//   vss::provider::completion end_prepare;
//   EXPECT_CALL(*p, end_prepare_snapshots(_, _))
//       .WillOnce(vss::mocks::SaveCompletion(&end_prepare));
//   ... io.poll(); the engine now waits in EndPrepareSnapshots ...
//   end_prepare({});                                             // S_OK, when the test likes
//
// Thread-safety: the engine may call the mock from any thread, and the synchronous members
// concurrently; gMock calls are thread-safe, and the default and delegating actions are as
// thread-safe as the provider they forward to. Set expectations and call delegate_to() before
// the engine can call the members concerned (gMock forbids setting them concurrently with
// calls). SaveCompletion writes to the test's variable from the calling thread.

#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "vss/error.hpp"
#include "vss/id.hpp"
#include "vss/provider.hpp"

namespace vss::mocks {

/// A vss::provider whose every member is a gMock mock method (the
/// IVssSoftwareSnapshotProvider + IVssProviderCreateSnapshotSet calls). Not copyable or
/// movable; hold it in a std::shared_ptr to register it.
class mock_provider : public provider {
 public:
  /// A mock with the "accept everything, snapshot nothing" defaults and a fresh provider id.
  explicit mock_provider(std::string name = "openvss mock provider")
      : default_properties_{.id = provider_id::generate(), .name = std::move(name)} {
    install_defaults();
  }

  /// Who the provider is. Default: a fixed value with the id generated at construction.
  MOCK_METHOD(provider_properties, properties, (), (const, override));
  /// IsVolumeSupported. Default: true.
  MOCK_METHOD(bool, is_volume_supported, (std::string_view volume), (const, override));
  /// BeginPrepareSnapshot (AddToSnapshotSet). Default: S_OK.
  MOCK_METHOD(std::error_code, begin_prepare_snapshot,
              (const snapshot_set_id& set, const snapshot_id& snapshot, std::string_view volume,
               std::uint32_t context),
              (override));
  /// EndPrepareSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, end_prepare_snapshots, (const snapshot_set_id& set, completion done),
              (override));
  /// PreCommitSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, pre_commit_snapshots, (const snapshot_set_id& set, completion done),
              (override));
  /// CommitSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, commit_snapshots, (const snapshot_set_id& set, completion done), (override));
  /// PostCommitSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, post_commit_snapshots,
              (const snapshot_set_id& set, std::int32_t snapshots_count, completion done),
              (override));
  /// PreFinalCommitSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, pre_final_commit_snapshots, (const snapshot_set_id& set, completion done),
              (override));
  /// PostFinalCommitSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, post_final_commit_snapshots, (const snapshot_set_id& set, completion done),
              (override));
  /// AbortSnapshots. Default: completes with S_OK.
  MOCK_METHOD(void, abort_snapshots, (const snapshot_set_id& set, completion done), (override));
  /// GetSnapshotProperties. Default: VSS_E_OBJECT_NOT_FOUND, `out` untouched.
  MOCK_METHOD(std::error_code, get_snapshot_properties,
              (const snapshot_id& id, snapshot_properties& out), (const, override));
  /// Query. Default: empty.
  MOCK_METHOD(std::vector<snapshot_properties>, query, (), (const, override));
  /// DeleteSnapshots for one snapshot. Default: VSS_E_OBJECT_NOT_FOUND.
  MOCK_METHOD(std::error_code, delete_snapshot, (const snapshot_id& id), (override));

  /// Replaces every default action with one that forwards the call to `real` (kept alive by
  /// the mock), so that only the members a test sets expectations with actions for differ
  /// from `real`; an EXPECT_CALL without an action forwards too. properties() then reports
  /// `real`'s id, so call this before registering the mock with an engine (the id must not
  /// change while registered). A null `real` is ignored.
  void delegate_to(std::shared_ptr<provider> real);

  /// The properties the non-delegating default reports (name and the generated id).
  const provider_properties& default_properties() const noexcept { return default_properties_; }

 private:
  void install_defaults();

  provider_properties default_properties_;
};

/// The action returned by CompleteWith().
class complete_with_action {
 public:
  /// Completes with `ec`.
  explicit complete_with_action(std::error_code ec) noexcept : ec_(ec) {}

  /// Calls the last argument (the step's `completion`) with the code.
  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) >= 1, "CompleteWith() is for the asynchronous provider steps");
    auto&& done = std::get<sizeof...(Args) - 1>(std::forward_as_tuple(args...));
    done(ec_);
  }

 private:
  std::error_code ec_;
};

/// The action returned by SaveCompletion().
class save_completion_action {
 public:
  /// Saves into `*out`.
  explicit save_completion_action(provider::completion* out) noexcept : out_(out) {}

  /// Moves the last argument (the step's `completion`) into `*out`, uncalled.
  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) >= 1, "SaveCompletion() is for the asynchronous provider steps");
    *out_ = std::move(std::get<sizeof...(Args) - 1>(std::forward_as_tuple(args...)));
  }

 private:
  provider::completion* out_;
};

/// Action for the asynchronous steps (end_prepare_snapshots ... abort_snapshots): completes
/// the step at once, inline, with `ec`. CompleteWith() completes with S_OK.
///   EXPECT_CALL(*p, commit_snapshots(_, _))
///       .WillOnce(vss::mocks::CompleteWith(vss::errc::provider_veto));
inline complete_with_action CompleteWith(std::error_code ec = {}) {
  return complete_with_action{ec};
}

/// As CompleteWith(make_error_code(code)).
inline complete_with_action CompleteWith(errc code) {
  return complete_with_action{make_error_code(code)};
}

/// Action for the asynchronous steps: moves the step's completion into `*out` without calling
/// it; the test calls it later, exactly once, from any thread. `out` must outlive the call.
///   vss::provider::completion commit;
///   EXPECT_CALL(*p, commit_snapshots(_, _)).WillOnce(vss::mocks::SaveCompletion(&commit));
inline save_completion_action SaveCompletion(provider::completion* out) {
  return save_completion_action{out};
}

inline void mock_provider::install_defaults() {
  using ::testing::_;
  using ::testing::Return;
  ON_CALL(*this, properties()).WillByDefault(Return(default_properties_));
  ON_CALL(*this, is_volume_supported(_)).WillByDefault(Return(true));
  ON_CALL(*this, begin_prepare_snapshot(_, _, _, _)).WillByDefault(Return(std::error_code{}));
  ON_CALL(*this, end_prepare_snapshots(_, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, pre_commit_snapshots(_, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, commit_snapshots(_, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, post_commit_snapshots(_, _, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, pre_final_commit_snapshots(_, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, post_final_commit_snapshots(_, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, abort_snapshots(_, _)).WillByDefault(CompleteWith());
  ON_CALL(*this, get_snapshot_properties(_, _))
      .WillByDefault(Return(make_error_code(errc::object_not_found)));
  ON_CALL(*this, query()).WillByDefault(Return(std::vector<snapshot_properties>{}));
  ON_CALL(*this, delete_snapshot(_)).WillByDefault(Return(make_error_code(errc::object_not_found)));
}

inline void mock_provider::delegate_to(std::shared_ptr<provider> real) {
  if (!real) return;
  using ::testing::_;
  // Each action holds its own reference, so `real` lives as long as any default uses it.
  ON_CALL(*this, properties()).WillByDefault([real] { return real->properties(); });
  ON_CALL(*this, is_volume_supported(_)).WillByDefault([real](std::string_view volume) {
    return real->is_volume_supported(volume);
  });
  ON_CALL(*this, begin_prepare_snapshot(_, _, _, _))
      .WillByDefault([real](const snapshot_set_id& set, const snapshot_id& snapshot,
                            std::string_view volume, std::uint32_t context) {
        return real->begin_prepare_snapshot(set, snapshot, volume, context);
      });
  ON_CALL(*this, end_prepare_snapshots(_, _))
      .WillByDefault([real](const snapshot_set_id& set, completion done) {
        real->end_prepare_snapshots(set, std::move(done));
      });
  ON_CALL(*this, pre_commit_snapshots(_, _))
      .WillByDefault([real](const snapshot_set_id& set, completion done) {
        real->pre_commit_snapshots(set, std::move(done));
      });
  ON_CALL(*this, commit_snapshots(_, _))
      .WillByDefault([real](const snapshot_set_id& set, completion done) {
        real->commit_snapshots(set, std::move(done));
      });
  ON_CALL(*this, post_commit_snapshots(_, _, _))
      .WillByDefault([real](const snapshot_set_id& set, std::int32_t count, completion done) {
        real->post_commit_snapshots(set, count, std::move(done));
      });
  ON_CALL(*this, pre_final_commit_snapshots(_, _))
      .WillByDefault([real](const snapshot_set_id& set, completion done) {
        real->pre_final_commit_snapshots(set, std::move(done));
      });
  ON_CALL(*this, post_final_commit_snapshots(_, _))
      .WillByDefault([real](const snapshot_set_id& set, completion done) {
        real->post_final_commit_snapshots(set, std::move(done));
      });
  ON_CALL(*this, abort_snapshots(_, _))
      .WillByDefault([real](const snapshot_set_id& set, completion done) {
        real->abort_snapshots(set, std::move(done));
      });
  ON_CALL(*this, get_snapshot_properties(_, _))
      .WillByDefault([real](const snapshot_id& id, snapshot_properties& out) {
        return real->get_snapshot_properties(id, out);
      });
  ON_CALL(*this, query()).WillByDefault([real] { return real->query(); });
  ON_CALL(*this, delete_snapshot(_)).WillByDefault([real](const snapshot_id& id) {
    return real->delete_snapshot(id);
  });
}

}  // namespace vss::mocks
