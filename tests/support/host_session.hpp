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

/// `s` becomes a new session of `eng` in component mode that selects only the components of
/// `own` (each a test_writer, whose component is its name + "-data"), with the metadata of
/// every registered writer gathered and a snapshot set of `volume` started: ready for
/// PrepareForBackup. Returns an empty string, or the first step that failed.
template <class Writers>
std::string select_own_on(engine& eng, backup_session& s, const Writers& own,
                          const std::string& volume) {
  using namespace std::chrono_literals;
  s = eng.create_backup_session();
  if (auto ec = s.initialize_for_backup()) return "initialize_for_backup: " + ec.message();
  if (auto ec = s.set_backup_state(true, false, backup_type::full)) {
    return "set_backup_state: " + ec.message();
  }
  auto gathered = s.async_gather_writer_metadata(use_async_op);
  if (!gathered.wait_for(10s) || gathered.query_status() != errc::async_finished) {
    return "GatherWriterMetadata did not finish";
  }
  for (const auto& w : own) {
    const auto& id = w->identity();
    if (auto ec = s.add_component(id.instance_id, id.class_id, component_type::file_group, "",
                                  id.name + "-data")) {
      return "add_component: " + ec.message();
    }
  }
  snapshot_set_id set;
  snapshot_id snap;
  if (auto ec = s.start_snapshot_set(set)) return "start_snapshot_set: " + ec.message();
  if (auto ec = s.add_to_snapshot_set(volume, {}, snap)) {
    return "add_to_snapshot_set: " + ec.message();
  }
  return "";
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
