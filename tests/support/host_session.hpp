#pragma once
// Driving a session of a real engine (an engine_host with io threads) to a given call, for
// tests that cannot run the io_context themselves. Each uses gtest's ASSERT: call it under
// ASSERT_NO_FATAL_FAILURE to stop the test at the first failed step.

#include <gtest/gtest.h>

#include <asio/use_future.hpp>
#include <chrono>
#include <future>
#include <string>

#include "vss/vss.hpp"

namespace vss::test {

/// `s` becomes a new session of `eng`: initialised for a full backup without components, the
/// metadata of every registered writer gathered, and a snapshot set started.
inline void start_set_on(engine& eng, backup_session& s) {
  using namespace std::chrono_literals;
  s = eng.create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.set_backup_state(false, false, backup_type::full));
  auto gathered = s.async_gather_writer_metadata(asio::use_future);
  ASSERT_EQ(gathered.wait_for(10s), std::future_status::ready);
  snapshot_set_id set;
  ASSERT_FALSE(s.start_snapshot_set(set));
}

/// start_set_on, then `volume` added (default provider) and PrepareForBackup completed.
inline void prepare_on(engine& eng, backup_session& s, const std::string& volume = "/data") {
  using namespace std::chrono_literals;
  ASSERT_NO_FATAL_FAILURE(start_set_on(eng, s));
  snapshot_id snap;
  ASSERT_FALSE(s.add_to_snapshot_set(volume, {}, snap));
  auto prepared = s.async_prepare_for_backup(asio::use_future);
  ASSERT_EQ(prepared.wait_for(10s), std::future_status::ready);
}

}  // namespace vss::test
