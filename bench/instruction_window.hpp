// The stretch of a run that callgrind counts, for figures this shared, noisy machine cannot
// blur: instructions and cold lines per abort (scripts/instructions-per-abort.sh). Run under
// `valgrind --tool=callgrind --instr-atstart=no`, callgrind instruments only what runs, on any
// thread, while an instruction_window is open; everywhere else, and in a build made without
// valgrind's header, the window does nothing.
#pragma once

// bench/CMakeLists.txt defines VSS_BENCH_CALLGRIND=1 where it found valgrind's header: a
// definition, unlike __has_include, makes the build recompile once the header is installed.
#ifndef VSS_BENCH_CALLGRIND
#define VSS_BENCH_CALLGRIND 0
#endif
#if VSS_BENCH_CALLGRIND
#include <valgrind/callgrind.h>
#endif

namespace vss::bench {

class instruction_window {
 public:
  instruction_window() {
#if VSS_BENCH_CALLGRIND
    CALLGRIND_START_INSTRUMENTATION;
#endif
  }
  ~instruction_window() {
#if VSS_BENCH_CALLGRIND
    CALLGRIND_STOP_INSTRUMENTATION;
#endif
  }
  instruction_window(const instruction_window&) = delete;
  instruction_window& operator=(const instruction_window&) = delete;

  /// True when this process runs under valgrind (any tool): the harness then also waits, inside
  /// the window, for the work an abort leaves behind after it reported done.
  static bool counting() {
#if VSS_BENCH_CALLGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
  }
};

}  // namespace vss::bench
