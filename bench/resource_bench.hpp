#pragma once
// Memory and throughput measurements of the abort-latency harness (issue 4, "Also measure and
// report"):
//
//   memory      heap bytes in use (glibc mallinfo2: uordblks + hblkhd, every arena) and
//               resident set (VmRSS) before and after registering W writers, after one session
//               identified all W and prepared, and before and after M sessions of 10 writers
//               each (one engine each) identified their writers and prepared; the peak
//               resident set (VmHWM, reset through /proc/self/clear_refs at the start of each
//               scenario) at W writers, and at M sessions in one engine (10 M writers). Untimed;
//               run once, first, so that the heap is not yet fragmented by the latency cells.
//   throughput  complete backups per second: C sessions (C threads of the harness, one
//               session at a time each, on disjoint groups of 10 writers and their own memory
//               provider and volume) each looping over create, InitializeForBackup,
//               SetBackupState(component mode, full), GatherWriterMetadata, AddComponent per
//               writer, StartSnapshotSet, AddToSnapshotSet, PrepareForBackup, DoSnapshotSet,
//               SetBackupSucceeded per writer, BackupComplete and release (waiting until the
//               writers answered BackupShutdown), for a fixed time.
//
// Thread-safety: one harness thread calls these; the throughput loop starts its own threads.

#include <malloc.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "baselines.hpp"
#include "bench_rig.hpp"
#include "histogram.hpp"
#include "vss/vss.hpp"

namespace vss::bench {

// ---------------------------------------------------------------------------------------------
// Process memory.

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define VSS_BENCH_HAVE_MALLINFO2 1
#else
#define VSS_BENCH_HAVE_MALLINFO2 0
#endif

/// Where the process's memory stands; -1 where the platform cannot tell.
struct memory_probe {
  std::int64_t heap_bytes = -1;  ///< malloc'd and in use (mallinfo2)
  std::int64_t rss_bytes = -1;   ///< VmRSS
  std::int64_t hwm_bytes = -1;   ///< VmHWM: peak resident set since the last reset
};

/// A "Vm...:" line of /proc/self/status, in bytes; -1 if absent.
inline std::int64_t proc_status_bytes(std::string_view key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      return std::stoll(line.substr(key.size() + 1)) * 1024;  // "VmRSS:   1234 kB"
    }
  }
  return -1;
}

inline memory_probe probe_memory() {
  memory_probe p;
#if VSS_BENCH_HAVE_MALLINFO2
  const auto m = ::mallinfo2();
  p.heap_bytes = static_cast<std::int64_t>(m.uordblks + m.hblkhd);
#endif
  p.rss_bytes = proc_status_bytes("VmRSS");
  p.hwm_bytes = proc_status_bytes("VmHWM");
  return p;
}

/// Gives freed heap back to the system (so that RSS deltas mean something) and resets VmHWM
/// to the current RSS (Linux >= 4.0). Returns false if the peak could not be reset.
inline bool trim_and_reset_peak() {
#if VSS_BENCH_HAVE_MALLINFO2
  ::malloc_trim(0);
#endif
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

/// One figure of the memory mode (a JSON row of the "memory" array).
struct memory_row {
  std::string scenario;  ///< process, writers, sessions_own_engines, sessions_one_engine
  std::string metric;    ///< bytes_per_writer, rss_bytes_per_writer, peak_rss_bytes, ...
  std::size_t writers = 0;
  std::size_t sessions = 0;
  std::size_t io_threads = 0;
  double value = 0;
  std::string unit;    ///< "bytes"
  std::string method;  ///< mallinfo2, VmRSS or VmHWM
  std::string what;    ///< one line for the table
};

struct memory_report {
  bool ran = false;
  bool peak_reset = true;  ///< VmHWM could be reset before each scenario
  std::vector<memory_row> rows;
  std::vector<std::string> errors;
};

namespace detail_resource {

inline vss::host_options host_options_for(std::size_t io_threads) {
  vss::host_options h;
  h.io_threads = io_threads;
  h.blocking_threads = 2;
  h.engine.shard_count = io_threads;
  return h;
}

/// Lets engine threads finish what the previous step left queued (session destruction).
inline void settle(asio::io_context& io, std::size_t threads) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  quiesce(io, threads);
}

/// (after - before) / n; NaN when a probe could not tell. May be negative (the heap shrank).
inline double per(std::int64_t after, std::int64_t before, std::size_t n) {
  if (after < 0 || before < 0 || n == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(after - before) / static_cast<double>(n);
}

/// A probed size in bytes; NaN when the probe could not tell.
inline double bytes(std::int64_t probed) {
  return probed < 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(probed);
}

}  // namespace detail_resource

/// The memory mode: W writers (and one session over all of them), then M sessions of 10
/// writers each, in M engines and in one engine. Every per-writer or per-session figure is a
/// difference of two probes taken with the engines idle; a peak is VmHWM since the reset at the
/// start of its scenario.
inline memory_report run_memory(std::size_t writers, std::size_t sessions, std::size_t io,
                                std::chrono::milliseconds bound) {
  namespace dr = detail_resource;
  memory_report rep;
  rep.ran = true;
  const std::string heap_method = VSS_BENCH_HAVE_MALLINFO2 ? "mallinfo2" : "unavailable";
  std::string scenario = "process";
  auto add = [&](std::string metric, std::size_t w, std::size_t m, double value, std::string method,
                 std::string what) {
    if (!std::isfinite(value)) return;  // the platform could not tell
    rep.rows.push_back({scenario, std::move(metric), w, m, io, value, "bytes", std::move(method),
                        std::move(what)});
  };

  add("rss_bytes", 0, 0, dr::bytes(probe_memory().rss_bytes), "VmRSS",
      "RSS of the harness before the memory scenarios (no engine yet)");

  // Scenario 1: W writers registered; then one session that identified all of them (every
  // registered writer answers Identify, spec §10.2) and prepared with all of them.
  if (writers > 0) {
    scenario = "writers";
    std::vector<std::unique_ptr<group>> groups;  // outlive the engine that calls into them
    timer_thread timers;
    vss::engine_host host(dr::host_options_for(io));
    auto& eng = host.engine();
    groups.push_back(make_group(eng, writers, phase_kind::frozen, behaviour_kind::immediate,
                                &timers, "/bench/mem-w", /*register_writers=*/false));
    auto& g = *groups.back();
    g.hold = false;
    dr::settle(host.io_context(), io);
    rep.peak_reset = trim_and_reset_peak() && rep.peak_reset;
    const auto p0 = probe_memory();
    register_group(eng, g);
    dr::settle(host.io_context(), io);
    const auto p1 = probe_memory();
    const auto wn = std::to_string(writers);
    add("bytes_per_writer", writers, 0, dr::per(p1.heap_bytes, p0.heap_bytes, writers), heap_method,
        "heap per registered writer (" + wn + " registered)");
    add("rss_bytes_per_writer", writers, 0, dr::per(p1.rss_bytes, p0.rss_bytes, writers), "VmRSS",
        "RSS per registered writer (" + wn + " registered)");
    add("peak_rss_bytes", writers, 0, dr::bytes(p1.hwm_bytes), "VmHWM",
        "peak RSS, " + wn + " writers registered, no session");

    vss::backup_session s;
    auto err = setup_identify(eng, g, false, s, bound);
    if (err.empty()) err = setup_prepare(g, s, bound);
    if (!err.empty()) {
      rep.errors.push_back("memory, 1 session over " + wn + " writers: " + err);
    } else {
      dr::settle(host.io_context(), io);
      const auto p2 = probe_memory();
      add("bytes_per_identified_writer", writers, 1, dr::per(p2.heap_bytes, p1.heap_bytes, writers),
          heap_method, "heap per writer of 1 session that identified " + wn + " and prepared");
      add("rss_bytes_per_identified_writer", writers, 1,
          dr::per(p2.rss_bytes, p1.rss_bytes, writers), "VmRSS",
          "RSS per writer of 1 session that identified " + wn + " and prepared");
      add("peak_rss_bytes", writers, 1, dr::bytes(p2.hwm_bytes), "VmHWM",
          "peak RSS, " + wn + " writers + 1 session over all of them");
    }
    release_session(s, bound);
    dr::settle(host.io_context(), io);
  }

  constexpr std::size_t writers_per_session = 10;
  const auto mn = std::to_string(sessions);
  const auto wn = std::to_string(sessions * writers_per_session);
  auto release_all = [&](std::vector<vss::backup_session>& ss) {
    std::vector<vss::async_op> released;
    released.reserve(ss.size());
    for (auto& s : ss) released.push_back(s.async_release(vss::use_async_op));
    for (auto& op : released) op.wait_for(bound);
    ss.clear();
  };

  // Scenario 2: bytes per session. M engines on one io_context, each with its own 10 writers
  // (registered) and provider; then one session per engine identified its 10 writers and
  // prepared. One engine per session, so that every session identifies exactly its own
  // writers without the re-registration of scenario 3.
  if (sessions > 0) {
    scenario = "sessions_own_engines";
    std::vector<std::unique_ptr<group>> groups;
    timer_thread timers;
    vss::engine_host host(dr::host_options_for(io));
    std::vector<std::unique_ptr<vss::engine>> engines;
    vss::engine_options eo;
    eo.shard_count = io;
    for (std::size_t k = 0; k < sessions; ++k) {
      engines.push_back(std::make_unique<vss::engine>(host.io_context().get_executor(), eo));
      groups.push_back(make_group(*engines.back(), writers_per_session, phase_kind::frozen,
                                  behaviour_kind::immediate, &timers,
                                  "/bench/mem-e" + std::to_string(k), /*register_writers=*/true));
      groups.back()->hold = false;
    }
    dr::settle(host.io_context(), io);
    rep.peak_reset = trim_and_reset_peak() && rep.peak_reset;
    const auto p0 = probe_memory();
    std::vector<vss::backup_session> ss(sessions);
    std::string err;
    for (std::size_t k = 0; k < sessions && err.empty(); ++k) {
      err = setup_identify(*engines[k], *groups[k], true, ss[k], bound);
      if (err.empty()) err = setup_prepare(*groups[k], ss[k], bound);
    }
    if (!err.empty()) {
      rep.errors.push_back("memory, " + mn + " sessions in " + mn + " engines: " + err);
    } else {
      dr::settle(host.io_context(), io);
      const auto p1 = probe_memory();
      add("bytes_per_session", sessions * writers_per_session, sessions,
          dr::per(p1.heap_bytes, p0.heap_bytes, sessions), heap_method,
          "heap per session with 10 writers, identified + prepared (mean of " + mn + ")");
      add("rss_bytes_per_session", sessions * writers_per_session, sessions,
          dr::per(p1.rss_bytes, p0.rss_bytes, sessions), "VmRSS",
          "RSS per session with 10 writers, identified + prepared (mean of " + mn + ")");
    }
    release_all(ss);
    for (auto& e : engines) e->async_shutdown(vss::use_async_op).wait_for(bound);
    dr::settle(host.io_context(), io);
    engines.clear();  // before the host and its threads
  }

  // Scenario 3: the M sweep's configuration, for its peak RSS: one engine, M sessions of 10
  // writers each (10 M registered), every session identified and prepared. Each session
  // identifies only its own 10 writers (the others are unregistered meanwhile, as in the M
  // sweep): with all 10 M registered, every session would keep the metadata of all of them
  // (see bytes_per_identified_writer).
  if (sessions > 0) {
    scenario = "sessions_one_engine";
    std::vector<std::unique_ptr<group>> groups;
    timer_thread timers;
    vss::engine_host host(dr::host_options_for(io));
    auto& eng = host.engine();
    for (std::size_t k = 0; k < sessions; ++k) {
      groups.push_back(make_group(eng, writers_per_session, phase_kind::frozen,
                                  behaviour_kind::immediate, &timers,
                                  "/bench/mem-s" + std::to_string(k), /*register_writers=*/true));
      groups.back()->hold = false;
    }
    dr::settle(host.io_context(), io);
    rep.peak_reset = trim_and_reset_peak() && rep.peak_reset;
    const auto p0 = probe_memory();
    add("rss_bytes", sessions * writers_per_session, 0, dr::bytes(p0.rss_bytes), "VmRSS",
        "RSS, one engine, " + wn + " writers registered, no session");
    std::vector<vss::backup_session> ss(sessions);
    std::string err;
    for (auto& g : groups) unregister_group(*g);
    for (std::size_t k = 0; k < sessions && err.empty(); ++k) {
      register_group(eng, *groups[k]);
      err = setup_identify(eng, *groups[k], true, ss[k], bound);
      unregister_group(*groups[k]);
    }
    for (auto& g : groups) register_group(eng, *g);
    for (std::size_t k = 0; k < sessions && err.empty(); ++k) {
      err = setup_prepare(*groups[k], ss[k], bound);
    }
    if (!err.empty()) {
      rep.errors.push_back("memory, " + mn + " sessions in one engine: " + err);
    } else {
      dr::settle(host.io_context(), io);
      const auto p1 = probe_memory();
      add("peak_rss_bytes", sessions * writers_per_session, sessions, dr::bytes(p1.hwm_bytes),
          "VmHWM",
          "peak RSS, one engine, " + wn + " writers registered + " + mn + " prepared sessions");
    }
    release_all(ss);
    dr::settle(host.io_context(), io);
  }
  return rep;
}

// ---------------------------------------------------------------------------------------------
// Throughput.

/// One configuration of the throughput mode in one run.
struct throughput_point {
  std::size_t io_threads = 0;
  std::size_t concurrency = 1;  ///< sessions in flight (harness threads)
  std::size_t writers = 10;     ///< per session
  std::size_t backups = 0;      ///< complete backups that succeeded
  std::size_t failures = 0;
  double seconds = 0;
  double per_second() const { return seconds > 0 ? static_cast<double>(backups) / seconds : 0; }
};

/// One complete backup of `g`'s writers on `eng` (see the file comment). Returns an empty
/// string on success, else what went wrong.
inline std::string one_backup(vss::engine& eng, group& g, std::chrono::milliseconds bound) {
  vss::backup_session s;
  auto err = setup_identify(eng, g, true, s, bound);
  if (err.empty()) err = setup_prepare(g, s, bound);
  auto run_op = [&](std::string_view what, vss::async_op op) {
    if (!op.wait_for(bound)) return std::string(what) + ": timed out";
    if (op.query_status() != vss::errc::async_finished) {
      return std::string(what) + ": " + op.query_status().message();
    }
    return std::string();
  };
  if (err.empty()) err = run_op("DoSnapshotSet", s.async_do_snapshot_set(vss::use_async_op));
  if (err.empty()) {
    for (const auto& w : g.writers) {
      const auto& id = w->identity();
      if (auto ec = s.set_backup_succeeded(id.instance_id, id.class_id,
                                           vss::component_type::file_group, "", "c", true)) {
        err = "SetBackupSucceeded: " + ec.message();
        break;
      }
    }
  }
  if (err.empty()) err = run_op("BackupComplete", s.async_backup_complete(vss::use_async_op));
  if (!release_session(s, bound) && err.empty()) err = "release: timed out";
  return err;
}

/// Runs `concurrency` back-to-back backup loops for `seconds` on a fresh engine with `io`
/// threads. Per-backup wall times go to `per_backup`; failures to `errors` (first few).
inline throughput_point run_throughput(std::size_t io, std::size_t concurrency, std::size_t writers,
                                       double seconds, std::chrono::milliseconds bound,
                                       histogram& per_backup, std::vector<std::string>& errors) {
  namespace dr = detail_resource;
  throughput_point pt;
  pt.io_threads = io;
  pt.concurrency = concurrency;
  pt.writers = writers;
  std::vector<std::unique_ptr<group>> groups;
  timer_thread timers;
  vss::engine_host host(dr::host_options_for(io));
  auto& eng = host.engine();
  for (std::size_t c = 0; c < concurrency; ++c) {
    groups.push_back(make_group(eng, writers, phase_kind::frozen, behaviour_kind::immediate,
                                &timers, "/bench/tp-" + std::to_string(c)));
    groups.back()->hold = false;
  }
  // Warm-up (untimed): one backup per group, in sequence.
  for (auto& g : groups) {
    if (auto err = one_backup(eng, *g, bound); !err.empty()) {
      errors.push_back("throughput warm-up: " + err);
      return pt;
    }
  }
  dr::settle(host.io_context(), io);

  struct lane {
    std::size_t backups = 0;
    std::size_t failures = 0;
    std::vector<std::string> errors;
    histogram times;
  };
  std::vector<lane> lanes(concurrency);
  const auto start = bench_clock::now();
  const auto stop = start + std::chrono::duration_cast<bench_clock::duration>(
                                std::chrono::duration<double>(seconds));
  {
    std::vector<std::thread> threads;
    threads.reserve(concurrency);
    for (std::size_t c = 0; c < concurrency; ++c) {
      threads.emplace_back([&, c] {
        auto& l = lanes[c];
        while (bench_clock::now() < stop) {
          const auto t0 = bench_clock::now();
          auto err = one_backup(eng, *groups[c], bound);
          const auto t1 = bench_clock::now();
          if (!err.empty()) {
            ++l.failures;
            if (l.errors.size() < 3) l.errors.push_back(std::move(err));
            continue;
          }
          ++l.backups;
          l.times.record(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0));
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  pt.seconds = std::chrono::duration<double>(bench_clock::now() - start).count();
  for (auto& l : lanes) {
    pt.backups += l.backups;
    pt.failures += l.failures;
    per_backup.merge(l.times);
    for (auto& e : l.errors) errors.push_back("throughput: " + e);
  }
  dr::settle(host.io_context(), io);
  return pt;
}

}  // namespace vss::bench
