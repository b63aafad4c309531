#pragma once
// What a session tells its requester about writers: the GetWriterStatus(Ex) view, and per-event
// reports with one result per writer (DESIGN.md §3.5: results say what you got).

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <system_error>
#include <vector>

#include "vss/id.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"

namespace vss {

/// IVssBackupComponentsEx3::GetWriterStatusEx for one writer instance.
struct writer_status {
  writer_instance_id instance_id;  ///< pidInstance.
  writer_class_id class_id;        ///< pidWriter.
  std::string name;                ///< pbstrWriter.
  application_level level = application_level::front_end;
  writer_state state = writer_state::unknown;  ///< pnStatus.
  std::error_code failure;  ///< phResultFailure: {} (S_OK) or a writer error code.
  std::string message;      ///< The writer's message (SetWriterFailureEx).
};

/// How one writer's handling of one event ended.
enum class writer_outcome : std::uint8_t {
  completed,      ///< complete().
  failed,         ///< fail(), or the handler threw or dropped its context.
  timed_out,      ///< The engine's deadline passed (VSS_E_WRITER_NOT_RESPONDING).
  abandoned,      ///< Superseded by an abort or a cancel before the writer answered.
  not_delivered,  ///< The writer went away before the event reached it.
};
std::string_view to_string(writer_outcome o) noexcept;

/// One writer's answer to one event.
struct writer_result {
  writer_instance_id instance_id;
  std::string name;
  writer_outcome outcome = writer_outcome::completed;
  std::error_code code;  ///< {} on success, else the writer error or engine-assigned code.
  std::string message;
};

/// The answers of every addressed writer to one delivery of an event.
struct phase_report {
  writer_event event = writer_event::identify;
  std::chrono::steady_clock::time_point started;  ///< When the event was sent (engine clock).
  std::chrono::steady_clock::time_point settled;  ///< When the last answer was in.
  std::vector<writer_result> results;

  /// Number of results with outcome `o`.
  std::size_t count(writer_outcome o) const noexcept;
};

/// What a snapshot set is good for (DESIGN.md §3.5).
enum class consistency_grade : std::uint8_t {
  none,         ///< No snapshot exists (not taken, failed, or aborted).
  application,  ///< Every participating writer froze and thawed successfully.
  filesystem,   ///< Not every writer quiesced, but each volume's filesystem was flushed and
                ///< held for the commit, or its provider commits an atomic, flushed image.
  crash,        ///< Taken, but at least one participating writer did not quiesce.
};
std::string_view to_string(consistency_grade g) noexcept;

/// The flush-and-hold window of one snapshot set (spec §7.1).
struct write_hold_report {
  std::vector<std::string> filesystems;  ///< Mount points held; empty when none was asked for.
  std::chrono::microseconds held{0};     ///< From the freeze to the thaw.
  bool expired = false;                  ///< The hold budget ran out before the commit returned.
  std::error_code failure;               ///< VSS_E_FLUSH_WRITES_TIMEOUT when it could not hold.
  std::string message;                   ///< Why it could not hold.
};
std::ostream& operator<<(std::ostream& os, consistency_grade g);

}  // namespace vss
