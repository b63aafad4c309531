// openvss-bench-abort — how fast AbortBackup wins (issue 4, DESIGN.md §5, perf-anchors.md §4).
//
// For each abort it measures, from std::chrono::steady_clock:
//   t_cancel  AbortBackup called -> the in-flight DoSnapshotSet (PrepareForBackup in the
//             prepare_backup phase) completion handler ran with VSS_S_ASYNC_CANCELLED (stamped
//             inside the handler);
//   t_drain   call -> every writer's OnAbort finished and the provider's AbortSnapshots
//             answered (stamped inside the last of them);
//   t_return  call -> the blocking abort_backup() returned (caller-seen). Burst cells (M
//             sessions) use async_abort_backup and stamp its handler instead;
//   t_done    max(t_cancel, t_return): "abort done", the metric of the targets.
// Each sample: a fresh session driven into the phase (untimed), a 200 us idle gap, the timed
// abort, then release (untimed). In the N cells two kinds of sample alternate (abort_probe in
// bench_rig.hpp): in "quiet" ones the writers only answer, and they give t_cancel, t_return and
// t_done (the session's report then must show every writer's OnAbort completed); in "count"
// ones each writer counts itself down first, and they give t_drain. Burst cells count in every
// sample (10 writers a session). Baselines run in the same process, on the engine's own
// io_context, interleaved with the engine in a random order each iteration (baselines.hpp).
//
// Besides latency it measures memory (bytes per registered writer and per session, peak RSS)
// and throughput (complete backups per second), see resource_bench.hpp. With --runs N the
// whole measurement is repeated N times in the process; each figure is then the median of the
// per-run figures, with their min-max spread.
//
// Usage: see usage() below, or run with --help.

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <asio/version.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "baselines.hpp"
#include "bench_rig.hpp"
#include "histogram.hpp"
#include "instruction_window.hpp"
#include "memory_latency.hpp"
#include "resource_bench.hpp"
#include "vss/vss.hpp"

namespace vss::bench {
namespace {

using namespace std::chrono_literals;

constexpr auto idle_gap = 200us;  // perf-anchors §4.3: worker threads parked before each sample
constexpr std::chrono::milliseconds step_bound{10'000};  // any setup step; longer = a hang

// ---------------------------------------------------------------------------------------------
// Options.

struct options {
  bool quick = false;
  // Modes; none given on the command line: all three.
  bool latency = true;
  bool memory = true;
  bool throughput = true;
  std::size_t runs = 1;
  std::size_t samples = 0;  // 0: 300 (quick) or 10,000 (full)
  double budget_s = 0;      // per cell; infinity: no cap (the full run's default)
  std::string json_path;
  std::string plot_path;
  std::vector<std::size_t> writers;
  std::vector<std::size_t> sessions;
  std::vector<std::size_t> io_threads;
  bool pin_io = false;             // host_options::pin_io_threads for the latency rigs
  bool group_writers = false;      // each burst session's writers one writer_placement group
  bool shared_provider = false;    // a burst's sessions share one provider
  std::vector<phase_kind> phases;  // phase sweep (N = 100); empty: none
  bool behaviours = false;         // behaviour sweep (N = 10)
  std::size_t race_iterations = 0;
  std::uint64_t seed = 1;
  std::size_t memory_writers = 10'000;
  std::size_t memory_sessions = 1'000;
  std::vector<std::size_t> throughput_sessions;
  double throughput_s = 0;  // per configuration; 0: 0.5 s (quick) or 5 s (full)
};

void usage(std::ostream& os) {
  os << "usage: openvss-bench-abort [options]\n"
        "\n"
        "Measures AbortBackup latency of the openvss engine (t_cancel, t_drain, t_return, t_done)\n"
        "against same-run baselines (floor, loop, signals2, signals2_post_each,\n"
        "thread_per_writer, cancel_leg), and counts lost cancellations in a race mode; measures\n"
        "memory (bytes per writer and per session, peak RSS) and throughput (complete backups\n"
        "per second).\n"
        "\n"
        "Modes (default: all three; giving any selects only those given):\n"
        "  --latency            the abort-latency sweeps, baselines and race mode\n"
        "  --memory             bytes per registered writer / per session, peak RSS (run once,\n"
        "                       first, even with --runs)\n"
        "  --throughput         complete backups per second (10 writers per session)\n"
        "\n"
        "  --quick              CI smoke run: N in {1,100,1000}, M in {1,10}, 2 io threads,\n"
        "                       300 samples per cell, 3 s per cell, 0.5 s of throughput per\n"
        "                       configuration (well under a minute)\n"
        "  --runs N             repeat the whole measurement N times in this process and report\n"
        "                       per figure the median of the per-run values and their min-max\n"
        "                       (default 1; the README's command uses 3)\n"
        "  --samples N          samples per cell (default 10000; --quick: 300)\n"
        "  --budget SECONDS|none  wall-time cap per cell, or none (default none: each engine\n"
        "                       cell runs until it has its samples: at N=10000, 20000\n"
        "                       setups of 10000 writers, about 10 minutes per io-thread\n"
        "                       count on the machine of docs/performance.md; --quick: 3).\n"
        "                       A baseline other than the floor stops taking samples while\n"
        "                       it has used more than its share (12 %, 5 % in a burst) of\n"
        "                       the cell's time so far; a cell gives up after 10 anomalies\n"
        "                       in a row; a long cell prints its progress every 30 s on\n"
        "                       stderr\n"
        "  --writers LIST       writer counts, e.g. 1,10,100, or 'none' (default\n"
        "                       1,10,100,1000,10000)\n"
        "  --sessions LIST      concurrent sessions per burst, 10 writers each, or 'none'\n"
        "                       (default 1,10,100,1000). Each session identifies only its own\n"
        "                       10 writers (the others are unregistered while it gathers and\n"
        "                       registered again before the sessions prepare): with all 10 M\n"
        "                       registered, every GatherWriterMetadata would keep the metadata\n"
        "                       of all of them (M=1000: about a minute per burst and ~6 GB)\n"
        "  --io-threads LIST    io threads of the engine (default 1,2)\n"
        "  --pin-io             pin each io thread to its own CPU (host_options::\n"
        "                       pin_io_threads; default off, as in the engine)\n"
        "  --group-writers      register each latency cell's session's writers as one\n"
        "                       writer_placement group, its own in a burst (default:\n"
        "                       none, writers spread over the shards one by one)\n"
        "  --shared-provider    a burst's sessions share one memory provider, as a server's\n"
        "                       do (default: one provider per session, so that the burst\n"
        "                       does not measure one provider's lock)\n"
        "  --phases LIST        phase sweep at N=100: prepare_backup,prepare_snapshot,frozen,\n"
        "                       commit,after_thaw, or 'all', or 'none' (default all; --quick:\n"
        "                       none); these cells get a third of the budget\n"
        "  --behaviours on|off  writer behaviour sweep at N=10: async_1ms, blocking_1ms (default\n"
        "                       on; --quick: off); a third of the budget each\n"
        "  --race N             race-mode iterations (default 3000; --quick: 300; 0 = off)\n"
        "  --seed N             seed of the interleaving order and race skews (default 1)\n"
        "  --memory-writers N   writers of the memory mode's writer scenario (default 10000)\n"
        "  --memory-sessions N  sessions (10 writers each) of its session scenario (default 1000)\n"
        "  --throughput-sessions LIST  sessions in flight, one harness thread each, with their\n"
        "                       own 10 writers (default 1,4; --quick: 1)\n"
        "  --throughput-seconds S  time per throughput configuration (default 5; --quick: 0.5)\n"
        "  --json FILE          write the results as JSON\n"
        "  --plot FILE.png      draw percentiles against writer count (needs gnuplot)\n"
        "  --help               print this text\n";
}

[[noreturn]] void bad_argument(const std::string& what) {
  std::cerr << "openvss-bench-abort: " << what << "\n(try --help)\n";
  std::exit(2);
}

std::uint64_t parse_number(std::string_view flag, const std::string& text, std::uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    bad_argument(std::string(flag) + " expects a non-negative integer, got '" + text + "'");
  }
  errno = 0;
  const auto v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || v > max) {
    bad_argument(std::string(flag) + " value '" + text + "' is out of range (max " +
                 std::to_string(max) + ")");
  }
  return v;
}

std::vector<std::size_t> parse_list(std::string_view flag, const std::string& text,
                                    std::uint64_t min, std::uint64_t max) {
  std::vector<std::size_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto v = parse_number(flag, item, max);
    if (v < min) {
      bad_argument(std::string(flag) + " values must be >= " + std::to_string(min) + ", got " +
                   item);
    }
    // A repeated value would measure the same cell twice under one title.
    if (std::find(out.begin(), out.end(), v) == out.end()) {
      out.push_back(static_cast<std::size_t>(v));
    }
  }
  if (out.empty()) bad_argument(std::string(flag) + " expects a comma-separated list");
  return out;
}

/// parse_list, or an empty list for "none".
std::vector<std::size_t> parse_list_or_none(std::string_view flag, const std::string& text,
                                            std::uint64_t min, std::uint64_t max) {
  if (text == "none") return {};
  return parse_list(flag, text, min, max);
}

double parse_seconds(std::string_view flag, const std::string& v) {
  char* end = nullptr;
  const double s = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(s > 0) || s > 86400) {
    bad_argument(std::string(flag) + " expects seconds > 0, got '" + v + "'");
  }
  return s;
}

std::vector<phase_kind> parse_phases(const std::string& text) {
  const std::vector<phase_kind> all = {phase_kind::prepare_backup, phase_kind::prepare_snapshot,
                                       phase_kind::frozen, phase_kind::commit,
                                       phase_kind::after_thaw};
  if (text == "all") return all;
  if (text == "none") return {};
  std::vector<phase_kind> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto it =
        std::find_if(all.begin(), all.end(), [&](phase_kind p) { return to_string(p) == item; });
    if (it == all.end()) bad_argument("--phases: unknown phase '" + item + "'");
    out.push_back(*it);
  }
  return out;
}

options parse(int argc, char** argv) {
  options o;
  bool samples_set = false, budget_set = false, writers_set = false, sessions_set = false,
       io_set = false, phases_set = false, behaviours_set = false, race_set = false,
       tp_sessions_set = false, mode_set = false;
  bool want_latency = false, want_memory = false, want_throughput = false;
  std::string phases_text, behaviours_text;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) bad_argument(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      std::exit(0);
    } else if (arg == "--quick") {
      o.quick = true;
    } else if (arg == "--latency") {
      want_latency = mode_set = true;
    } else if (arg == "--memory") {
      want_memory = mode_set = true;
    } else if (arg == "--throughput") {
      want_throughput = mode_set = true;
    } else if (arg == "--runs") {
      o.runs = parse_number(arg, value(), 1000);
      if (o.runs == 0) bad_argument("--runs must be at least 1");
    } else if (arg == "--samples") {
      o.samples = parse_number(arg, value(), 10'000'000);
      if (o.samples == 0) bad_argument("--samples must be at least 1");
      samples_set = true;
    } else if (arg == "--budget") {
      const auto v = value();
      o.budget_s = v == "none" ? std::numeric_limits<double>::infinity() : parse_seconds(arg, v);
      budget_set = true;
    } else if (arg == "--writers") {
      o.writers = parse_list_or_none(arg, value(), 1, 1'000'000);
      writers_set = true;
    } else if (arg == "--sessions") {
      o.sessions = parse_list_or_none(arg, value(), 1, 100'000);
      sessions_set = true;
    } else if (arg == "--pin-io") {
      o.pin_io = true;
    } else if (arg == "--group-writers") {
      o.group_writers = true;
    } else if (arg == "--shared-provider") {
      o.shared_provider = true;
    } else if (arg == "--io-threads") {
      o.io_threads = parse_list(arg, value(), 1, 64);
      io_set = true;
    } else if (arg == "--phases") {
      phases_text = value();
      phases_set = true;
    } else if (arg == "--behaviours") {
      behaviours_text = value();
      if (behaviours_text != "on" && behaviours_text != "off") {
        bad_argument("--behaviours expects on or off, got '" + behaviours_text + "'");
      }
      behaviours_set = true;
    } else if (arg == "--race") {
      o.race_iterations = parse_number(arg, value(), 10'000'000);
      race_set = true;
    } else if (arg == "--seed") {
      o.seed = parse_number(arg, value(), UINT64_MAX);
    } else if (arg == "--memory-writers") {
      o.memory_writers = parse_number(arg, value(), 1'000'000);
    } else if (arg == "--memory-sessions") {
      o.memory_sessions = parse_number(arg, value(), 100'000);
    } else if (arg == "--throughput-sessions") {
      o.throughput_sessions = parse_list(arg, value(), 1, 64);
      tp_sessions_set = true;
    } else if (arg == "--throughput-seconds") {
      o.throughput_s = parse_seconds(arg, value());
    } else if (arg == "--json") {
      o.json_path = value();
    } else if (arg == "--plot") {
      o.plot_path = value();
    } else {
      bad_argument("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (!samples_set) o.samples = o.quick ? 300 : 10'000;
  if (!budget_set) o.budget_s = o.quick ? 3.0 : std::numeric_limits<double>::infinity();
  if (!writers_set) {
    o.writers = o.quick ? std::vector<std::size_t>{1, 100, 1000}
                        : std::vector<std::size_t>{1, 10, 100, 1000, 10000};
  }
  if (!sessions_set) {
    o.sessions =
        o.quick ? std::vector<std::size_t>{1, 10} : std::vector<std::size_t>{1, 10, 100, 1000};
  }
  if (!io_set)
    o.io_threads = o.quick ? std::vector<std::size_t>{2} : std::vector<std::size_t>{1, 2};
  o.phases = phases_set ? parse_phases(phases_text)
                        : (o.quick ? std::vector<phase_kind>{} : parse_phases("all"));
  o.behaviours = behaviours_set ? behaviours_text == "on" : !o.quick;
  if (!race_set) o.race_iterations = o.quick ? 300 : 3000;
  if (mode_set) {
    o.latency = want_latency;
    o.memory = want_memory;
    o.throughput = want_throughput;
  }
  if (!tp_sessions_set) {
    o.throughput_sessions = o.quick ? std::vector<std::size_t>{1} : std::vector<std::size_t>{1, 4};
  }
  if (o.throughput_s == 0) o.throughput_s = o.quick ? 0.5 : 5.0;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Results.

struct series {
  std::string system;
  std::string metric;
  std::size_t writers = 0;
  std::size_t sessions = 1;
  std::string phase;
  std::string behaviour;
  std::size_t io_threads = 0;
  int cell = 0;  // which table block it is printed in
  histogram hist;
};

class results {
 public:
  series& get(int cell, std::string_view system, std::string_view metric, std::size_t writers,
              std::size_t sessions, std::string_view phase, std::string_view behaviour,
              std::size_t io) {
    for (auto& s : all_) {
      if (s->cell == cell && s->system == system && s->metric == metric && s->writers == writers &&
          s->sessions == sessions && s->phase == phase && s->behaviour == behaviour &&
          s->io_threads == io) {
        return *s;
      }
    }
    auto s = std::make_unique<series>();
    s->system = system;
    s->metric = metric;
    s->writers = writers;
    s->sessions = sessions;
    s->phase = phase;
    s->behaviour = behaviour;
    s->io_threads = io;
    s->cell = cell;
    all_.push_back(std::move(s));
    return *all_.back();
  }
  series* find(int cell, std::string_view system, std::string_view metric) {
    for (auto& s : all_) {
      if (s->cell == cell && s->system == system && s->metric == metric) return s.get();
    }
    return nullptr;
  }
  std::vector<std::unique_ptr<series>>& all() { return all_; }

  int new_cell(std::string title) {
    titles_.push_back(std::move(title));
    return static_cast<int>(titles_.size()) - 1;
  }
  const std::vector<std::string>& titles() const { return titles_; }

 private:
  std::vector<std::unique_ptr<series>> all_;
  std::vector<std::string> titles_;
};

/// Anomalies seen while measuring (a sample whose outcome was not the expected one).
struct anomalies {
  std::size_t count = 0;
  std::vector<std::string> first;
  void add(std::string what) {
    ++count;
    if (first.size() < 10) first.push_back(std::move(what));
  }
};

// ---------------------------------------------------------------------------------------------
// The machine.

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

bool cpu_is_virtualised() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) == 0) return line.find(" hypervisor") != std::string::npos;
  }
  return false;
}

std::string compiler() {
#if defined(__clang__)
  return "clang++ " __clang_version__;
#elif defined(__GNUC__)
  return "g++ " __VERSION__;
#else
  return "unknown";
#endif
}

// Which malloc this process runs on: one preloaded (LD_PRELOAD) or linked in dynamically
// replaces glibc's, and moves the burst's figures by about a tenth and one large session's p99
// several-fold (decisions §42), so a comparison must see it. Each allocator is known by a
// symbol only it exports (a static link without -rdynamic hides it).
std::string allocator_in_use() {
  std::string name;
  if (dlsym(RTLD_DEFAULT, "mallctl") != nullptr) {
    name = "jemalloc";
  } else if (dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr) {
    name = "tcmalloc";
  } else if (dlsym(RTLD_DEFAULT, "mi_malloc") != nullptr) {
    name = "mimalloc";
  } else {
    name = std::string("glibc ") + gnu_get_libc_version();
  }
  if (const char* pre = std::getenv("LD_PRELOAD"); pre != nullptr && *pre != '\0') {
    name += std::string(" (LD_PRELOAD=") + pre + ")";
  }
  return name;
}

std::string utc_now() {
  const auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::pair<std::string, std::string>> machine_info(const options& o,
                                                              const std::string& command,
                                                              const std::string& load_start) {
  std::vector<std::pair<std::string, std::string>> m;
  utsname u{};
  uname(&u);
  m.emplace_back("cpu_model", cpu_model());
  m.emplace_back("cores", std::to_string(std::thread::hardware_concurrency()));
  m.emplace_back("virtualised", cpu_is_virtualised() ? "yes" : "no");
  m.emplace_back("cpuidle_driver",
                 read_first_line("/sys/devices/system/cpu/cpuidle/current_driver"));
  m.emplace_back("kernel", std::string(u.sysname) + " " + u.release);
  m.emplace_back("compiler", compiler());
#ifdef NDEBUG
  m.emplace_back("build", "NDEBUG (optimised)");
#else
  m.emplace_back("build", "assertions on (not a release build: numbers are not representative)");
#endif
  // The flags move the figures as the code does (-O3 against -O2: the N = 10,000 cell's p50
  // by 12 %, decisions §37), so a comparison must see them.
  m.emplace_back("build_flags", OPENVSS_BENCH_BUILD_FLAGS);
  m.emplace_back("allocator", allocator_in_use());
  // Whether the kernel backs large mappings with huge pages moves the memory-latency profile's
  // larger sets (fewer TLB misses per hop) and the big cells with them.
  m.emplace_back("transparent_hugepage",
                 read_first_line("/sys/kernel/mm/transparent_hugepage/enabled"));
  m.emplace_back("asio_version", std::to_string(ASIO_VERSION));
  m.emplace_back("boost_version", std::to_string(BOOST_VERSION));
  m.emplace_back("date_utc", utc_now());
  m.emplace_back("load_average_start", load_start);
  m.emplace_back("load_average_end", read_first_line("/proc/loadavg"));
  m.emplace_back("command", command);
  m.emplace_back("mode", o.quick ? "quick" : "full");
  std::string modes;
  for (const auto& [on, name] : {std::pair{o.latency, "latency"}, std::pair{o.memory, "memory"},
                                 std::pair{o.throughput, "throughput"}}) {
    if (on) modes += (modes.empty() ? "" : ",") + std::string(name);
  }
  m.emplace_back("modes", modes);
  m.emplace_back("runs", std::to_string(o.runs));
  m.emplace_back("pin_io_threads", o.pin_io ? "yes" : "no");
  m.emplace_back("writer_groups", o.group_writers ? "one_per_session" : "none");
  m.emplace_back("burst_provider", o.shared_provider ? "shared" : "per_session");
  m.emplace_back("samples_per_cell_target", std::to_string(o.samples));
  m.emplace_back("budget_s_per_cell",
                 std::isfinite(o.budget_s) ? std::to_string(o.budget_s) : "none");
  m.emplace_back("idle_gap_us", "200");
  m.emplace_back("seed", std::to_string(o.seed));
  return m;
}

// ---------------------------------------------------------------------------------------------
// The engine rig: an engine_host (its io_context also runs the baselines), a second engine with
// no writers on the same io_context for the cancellation leg, and the helper threads.

class rig {
 public:
  rig(std::size_t io_threads, bool pin_io)
      : io_threads_(io_threads),
        host_(host_options_for(io_threads, pin_io)),
        bare_(host_.io_context().get_executor(), engine_options_for(io_threads)) {}

  ~rig() {
    // The cancel-leg engine drains on the host's threads, so it goes first.
    auto op = bare_.async_shutdown(vss::use_async_op);
    op.wait_for(step_bound);
  }
  rig(const rig&) = delete;
  rig& operator=(const rig&) = delete;

  std::size_t io_threads() const { return io_threads_; }
  vss::engine& engine() { return host_.engine(); }
  vss::engine& bare_engine() { return bare_; }
  asio::io_context& io() { return host_.io_context(); }
  timer_thread& timers() { return timers_; }
  void quiesce() { bench::quiesce(host_.io_context(), io_threads_); }
  releaser& provider_releaser() { return releaser_; }

  /// A new group (writers registered with the main engine, unless `bare`; left unregistered
  /// if `registered` is false, see register_group).
  /// `placement`: the writers' writer_placement::group (empty: none).
  group& add_group(std::size_t writers, phase_kind phase, behaviour_kind behaviour, bool bare,
                   bool registered = true, std::string placement = {}) {
    auto& eng = bare ? bare_ : host_.engine();
    groups_.push_back(make_group(eng, writers, phase, behaviour, &timers_,
                                 "/bench/vol-" + std::to_string(next_volume_++), registered,
                                 std::move(placement)));
    return *groups_.back();
  }

  /// The group of the cancellation leg: no writers, on the engine without writers.
  group& cancel_leg_group() {
    if (cancel_leg_ == nullptr) {
      cancel_leg_ = &add_group(0, phase_kind::end_prepare, behaviour_kind::immediate, true);
    }
    return *cancel_leg_;
  }

  /// Unregisters a group's writers; the group itself lives on (the engine may still hold its
  /// provider and, until released sessions are gone, its writers).
  void retire(group& g) { unregister_group(g); }

 private:
  static vss::host_options host_options_for(std::size_t io_threads, bool pin_io) {
    vss::host_options h;
    h.io_threads = io_threads;
    h.pin_io_threads = pin_io;
    h.blocking_threads = 2;
    h.engine.shard_count = io_threads;
    return h;
  }
  static vss::engine_options engine_options_for(std::size_t io_threads) {
    vss::engine_options e;
    e.shard_count = io_threads;
    return e;
  }

  std::size_t io_threads_;
  std::vector<std::unique_ptr<group>> groups_;  // outlive the engines that call into them
  timer_thread timers_;
  releaser releaser_;
  vss::engine_host host_;
  vss::engine bare_;
  std::size_t next_volume_ = 0;
  group* cancel_leg_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// One timed abort of a session already in its phase (blocking abort_backup).

struct abort_sample {
  std::int64_t cancel_ns = 0;
  std::int64_t drain_ns = 0;
  std::int64_t return_ns = 0;
  std::int64_t done_ns = 0;
  // Which figures the sample measured (abort_probe): a count sample's writers paid for the
  // countdown, so its caller-seen times are not recorded; a quiet sample has no drain stamp.
  bool has_drain = true;
  bool has_done = true;
};

/// Waits (bounded) until the stamps the abort must leave are all there.
bool wait_stamps(group& g, bool expect_writers) {
  const auto give_up = bench_clock::now() + step_bound;
  while (bench_clock::now() < give_up) {
    const bool op = g.op_done_ns.load(std::memory_order_acquire) != 0;
    const bool writers = !expect_writers || g.writers_done_ns.load(std::memory_order_acquire) != 0;
    const bool provider = g.provider_abort_ns.load(std::memory_order_acquire) != 0;
    if (op && writers && provider) return true;
    std::this_thread::sleep_for(20us);
  }
  return false;
}

std::optional<abort_sample> timed_abort(group& g, vss::backup_session& s, releaser* rel,
                                        anomalies& bad, std::string_view what, abort_probe probe) {
  const bool counted = probe == abort_probe::count && !g.writers.empty();
  g.probe.store(probe, std::memory_order_relaxed);  // published to the writers by the abort
  if (rel != nullptr) rel->arm(&s, g.provider.get());
  std::this_thread::sleep_for(idle_gap);
  const auto t0 = now_ns();
  if (rel != nullptr) rel->fire();
  const auto ec = s.abort_backup();
  const auto t1 = now_ns();
  if (ec) {
    bad.add(std::string(what) + ": abort_backup returned " + ec.message());
    return std::nullopt;
  }
  // abort_backup returns once every writer answered OnAbort: the report must say so.
  if (!counted && !every_writer_completed_abort(g, s)) {
    bad.add(std::string(what) + ": abort_backup returned before every writer completed OnAbort");
    return std::nullopt;
  }
  if (!wait_stamps(g, counted)) {
    bad.add(std::string(what) + ": the abort left a stamp missing (op/writers/provider)");
    return std::nullopt;
  }
  if (g.op_ec() != vss::errc::async_cancelled) {
    bad.add(std::string(what) + ": the in-flight op completed with " + g.op_ec().message());
    return std::nullopt;
  }
  abort_sample a;
  a.cancel_ns = g.op_done_ns.load() - t0;
  const auto drained = std::max(counted ? g.writers_done_ns.load() : 0, g.provider_abort_ns.load());
  a.drain_ns = drained - t0;
  a.return_ns = t1 - t0;
  a.done_ns = std::max(a.cancel_ns, a.return_ns);
  // Without writers a sample measures everything: there is nothing to count.
  a.has_drain = counted || g.writers.empty();
  a.has_done = !counted;
  return a;
}

void record_abort(results& r, int cell, std::string_view system, std::size_t writers,
                  std::size_t sessions, std::string_view phase, std::string_view behaviour,
                  std::size_t io, const abort_sample& a) {
  using std::chrono::nanoseconds;
  if (a.has_done) {
    r.get(cell, system, "t_cancel", writers, sessions, phase, behaviour, io)
        .hist.record(nanoseconds(a.cancel_ns));
  }
  if (a.has_drain) {
    r.get(cell, system, "t_drain", writers, sessions, phase, behaviour, io)
        .hist.record(nanoseconds(a.drain_ns));
  }
  if (a.has_done) {
    r.get(cell, system, "t_return", writers, sessions, phase, behaviour, io)
        .hist.record(nanoseconds(a.return_ns));
    r.get(cell, system, "t_done", writers, sessions, phase, behaviour, io)
        .hist.record(nanoseconds(a.done_ns));
  }
}

// ---------------------------------------------------------------------------------------------
// Cells.

using seconds_d = std::chrono::duration<double>;

/// Interleaves systems in a random order per iteration until the engine has its samples or
/// the budget (possibly none: infinity) is spent. Every system drops out once it has its
/// samples. A baseline also sits out a round while it has used more than its share of the
/// cell's time so far: thread_per_writer at N = 1,000 costs ~50 ms a sample, against ~4 ms
/// for the engine, so in an uncapped cell a share of the budget would have no end. Measured
/// against the time so far, an expensive baseline's samples also spread over the cell instead
/// of crowding its start. The floor has no share: every ratio to it rests on its samples, and
/// at ~0.3 ms a sample (its idle gap included) it could not keep pace within one.
class interleaver {
 public:
  enum class role {
    engine,    // decides when the cell ends
    floor,     // runs every round until it has its samples
    baseline,  // held to its share of the cell's time so far
  };

  struct system {
    std::string name;
    std::function<bool()> run_one;  // false: the system failed and leaves the cell
    role kind = role::baseline;
    std::size_t samples = 0;
    seconds_d spent{0};
    bool out = false;
  };

  /// `settle` runs after every sample, untimed (rig::quiesce). `unit` names what the engine's
  /// `target` counts, in the progress line ("samples", or "bursts" in a burst cell).
  interleaver(std::size_t target, double budget_s, double baseline_share, std::mt19937_64& rng,
              std::function<void()> settle, std::string unit = "samples")
      : target_(target),
        budget_(budget_s),
        share_(baseline_share),
        rng_(rng),
        settle_(std::move(settle)),
        unit_(std::move(unit)) {}

  void add(std::string name, std::function<bool()> run_one, role kind = role::baseline) {
    systems_.push_back({std::move(name), std::move(run_one), kind});
  }

  void run() {
    const auto start = bench_clock::now();
    auto next_progress = start + progress_every;
    std::vector<std::size_t> order(systems_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    bool first = true;
    for (;;) {
      const auto now = bench_clock::now();
      const seconds_d elapsed = now - start;
      const bool engine_left = std::any_of(systems_.begin(), systems_.end(), [&](auto& s) {
        return s.kind == role::engine && !s.out && s.samples < target_;
      });
      if (!engine_left || (!first && elapsed.count() > budget_)) break;
      if (now >= next_progress) {
        report_progress(elapsed);
        next_progress = now + progress_every;
      }
      first = false;
      std::shuffle(order.begin(), order.end(), rng_);
      for (auto i : order) {
        auto& s = systems_[i];
        if (s.out || s.samples >= target_) continue;
        if (s.kind == role::baseline && s.spent > share_ * seconds_d(bench_clock::now() - start)) {
          continue;
        }
        const auto t = bench_clock::now();
        const bool ok = s.run_one();
        settle_();
        s.spent += bench_clock::now() - t;
        if (!ok) {
          s.out = true;
          continue;
        }
        ++s.samples;
      }
    }
  }

 private:
  static constexpr auto progress_every = std::chrono::seconds(30);

  /// On the cell's line of stderr (it ends with the cell's time): the engine's samples so
  /// far, of its fewest-sampled series, and the time left at the rate so far.
  void report_progress(seconds_d elapsed) const {
    std::size_t done = target_;
    for (const auto& s : systems_) {
      if (s.kind == role::engine && !s.out) done = std::min(done, s.samples);
    }
    std::ostringstream line;  // std::cerr's own format stays as the cell set it
    line << "\n[bench]   " << done << " of " << target_ << " engine " << unit_ << " after "
         << std::fixed << std::setprecision(0) << elapsed.count() << " s";
    if (done > 0) {
      const double left =
          elapsed.count() * static_cast<double>(target_ - done) / static_cast<double>(done);
      line << ", about " << std::min(left, budget_ - elapsed.count()) << " s left";
    }
    line << " ...";
    std::cerr << line.str() << std::flush;
  }

  std::size_t target_;
  double budget_;
  double share_;
  std::mt19937_64& rng_;
  std::function<void()> settle_;
  std::string unit_;
  std::vector<system> systems_;
};

struct context {
  options opt;
  results res;
  anomalies bad;
  std::mt19937_64 rng;
  std::map<std::size_t, int> cancel_leg_cell;  // io threads -> cell holding merged cancel_leg
  std::vector<int> main_cells;  // the N sweep with every baseline: the summary and the plot
};

/// Records a baseline sample. Baselines carry the phase and behaviour of the cell they were
/// interleaved with, so that every JSON row has a unique key.
void record_fanout(results& r, int cell, std::string_view system, std::size_t writers,
                   std::string_view phase, std::string_view behaviour, std::size_t io,
                   const fanout_times& t, bool stamped) {
  using std::chrono::nanoseconds;
  if (stamped) {
    r.get(cell, system, "t_drain", writers, 1, phase, behaviour, io)
        .hist.record(nanoseconds(t.stamped_ns));
  }
  r.get(cell, system, "t_return", writers, 1, phase, behaviour, io)
      .hist.record(nanoseconds(t.caller_seen_ns));
}

/// The cancellation leg alone: a session of an engine with no writers, aborted while its
/// provider's EndPrepareSnapshots is in flight.
std::function<bool()> cancel_leg_runner(context& ctx, rig& rg, group& bare_group, int cell) {
  return [&ctx, &rg, &bare_group, cell] {
    vss::backup_session s;
    const auto err = setup_session(rg.bare_engine(), bare_group, false, s, step_bound);
    if (!err.empty()) {
      ctx.bad.add("cancel_leg setup: " + err);
      return false;
    }
    const auto a = timed_abort(bare_group, s, nullptr, ctx.bad, "cancel_leg", abort_probe::quiet);
    release_session(s, step_bound);
    if (!a) return false;
    record_abort(ctx.res, cell, "cancel_leg", 0, 1, "end_prepare", "immediate", rg.io_threads(),
                 *a);
    return true;
  };
}

/// N writers, one session, the engine and every baseline interleaved.
void run_writer_cell(context& ctx, rig& rg, std::size_t n, phase_kind phase,
                     behaviour_kind behaviour, bool with_baselines, double budget_s) {
  std::ostringstream title;
  title << "N=" << n << " writers, M=1 session, io_threads=" << rg.io_threads()
        << ", phase=" << to_string(phase) << ", behaviour=" << to_string(behaviour);
  std::cerr << "[bench] " << title.str() << " ..." << std::flush;
  const int cell = ctx.res.new_cell(title.str());
  if (with_baselines) ctx.main_cells.push_back(cell);
  const auto io = rg.io_threads();
  const auto cell_start = bench_clock::now();

  auto& g = rg.add_group(n, phase, behaviour, /*bare=*/false, /*registered=*/true,
                         ctx.opt.group_writers ? "session" : "");
  releaser* rel = (phase == phase_kind::commit || phase == phase_kind::after_thaw)
                      ? &rg.provider_releaser()
                      : nullptr;
  const std::string ph(to_string(phase));
  const std::string bh(to_string(behaviour));

  interleaver il(ctx.opt.samples, budget_s, 0.12, ctx.rng, [&rg] { rg.quiesce(); });
  // An anomaly can cost step_bound (a stamp waited for in vain) and still counts as a sample:
  // with no time cap, an engine that lost its aborts would hold the run for days.
  constexpr int anomalies_to_give_up = 10;
  int anomalies_in_a_row = 0;
  auto engine_sample = [&](abort_probe probe) {
    vss::backup_session s;
    const auto err = setup_session(rg.engine(), g, false, s, step_bound);
    if (!err.empty()) {
      ctx.bad.add(title.str() + ": setup: " + err);
      release_session(s, step_bound);
      return false;
    }
    const auto a = timed_abort(g, s, rel, ctx.bad, title.str(), probe);
    release_session(s, step_bound);
    if (!a) {  // counted as an anomaly; keep measuring, unless the engine is plainly broken
      if (++anomalies_in_a_row < anomalies_to_give_up) return true;
      ctx.bad.add(title.str() + ": " + std::to_string(anomalies_to_give_up) +
                  " anomalies in a row; the cell gives up");
      return false;
    }
    anomalies_in_a_row = 0;
    record_abort(ctx.res, cell, "openvss", n, 1, ph, bh, io, *a);
    return true;
  };
  // Two kinds of engine samples, interleaved like the baselines: t_drain needs the writers to
  // count themselves down, and that count must not weigh on the caller-seen times (abort_probe).
  il.add(
      "openvss", [&] { return engine_sample(abort_probe::quiet); }, interleaver::role::engine);
  il.add(
      "openvss t_drain", [&] { return engine_sample(abort_probe::count); },
      interleaver::role::engine);

  floor_baseline floor(rg.io());
  il.add(
      "floor",
      [&] {
        std::this_thread::sleep_for(idle_gap);
        record_fanout(ctx.res, cell, "floor", n, ph, bh, io, floor.run(), true);
        return true;
      },
      interleaver::role::floor);

  std::unique_ptr<loop_baseline> loop;
  std::unique_ptr<signals2_baseline> sig;
  std::unique_ptr<signals2_post_each_baseline> naive;
  std::unique_ptr<thread_per_writer_baseline> tpw;
  if (with_baselines) {
    loop = std::make_unique<loop_baseline>(n);
    sig = std::make_unique<signals2_baseline>(n);
    naive = std::make_unique<signals2_post_each_baseline>(rg.io(), n);
    il.add("loop", [&] {
      std::this_thread::sleep_for(idle_gap);
      record_fanout(ctx.res, cell, "loop", n, ph, bh, io, loop->run(), false);
      return true;
    });
    il.add("signals2", [&] {
      std::this_thread::sleep_for(idle_gap);
      record_fanout(ctx.res, cell, "signals2", n, ph, bh, io, sig->run(), false);
      return true;
    });
    il.add("signals2_post_each", [&] {
      std::this_thread::sleep_for(idle_gap);
      record_fanout(ctx.res, cell, "signals2_post_each", n, ph, bh, io, naive->run(), true);
      return true;
    });
    if (n <= 1000) {
      tpw = std::make_unique<thread_per_writer_baseline>(n);
      il.add("thread_per_writer", [&] {
        std::this_thread::sleep_for(idle_gap);
        record_fanout(ctx.res, cell, "thread_per_writer", n, ph, bh, io, tpw->run(), true);
        return true;
      });
    }
    // The cancellation leg does not depend on N: its samples from every cell of one io-thread
    // count are merged into one series (reported with writers = 0).
    auto [it, inserted] = ctx.cancel_leg_cell.try_emplace(io, -1);
    if (inserted) {
      it->second = ctx.res.new_cell(
          "cancel_leg (N=0: a session with no writers aborted during "
          "EndPrepareSnapshots), io_threads=" +
          std::to_string(io) + ", merged over every N cell");
    }
    il.add("cancel_leg", cancel_leg_runner(ctx, rg, rg.cancel_leg_group(), it->second));
  }

  il.run();
  rg.retire(g);
  std::cerr << " " << std::fixed << std::setprecision(1)
            << seconds_d(bench_clock::now() - cell_start).count() << " s\n";
}

/// M sessions of 10 writers each, all frozen, aborted in one burst (async_abort_backup, each
/// timed from its own call); the floor interleaved once per burst. Each session identifies
/// only its own writers: the others are unregistered while it gathers (see --help); all 10 M
/// are registered again before the sessions prepare, so the abort runs with 10 M registered.
void run_session_cell(context& ctx, rig& rg, std::size_t m) {
  constexpr std::size_t writers_per_session = 10;
  std::ostringstream title;
  title << "M=" << m << " sessions x " << writers_per_session
        << " writers, one burst, io_threads=" << rg.io_threads()
        << ", phase=frozen, behaviour=immediate (async_abort_backup per session"
        << (ctx.opt.group_writers ? "; each session's writers one placement group" : "")
        << (ctx.opt.shared_provider ? "; one provider shared by the sessions)" : ")");
  std::cerr << "[bench] " << title.str() << " ..." << std::flush;
  const int cell = ctx.res.new_cell(title.str());
  const auto io = rg.io_threads();
  const auto cell_start = bench_clock::now();

  std::vector<group*> groups;
  for (std::size_t k = 0; k < m; ++k) {
    groups.push_back(&rg.add_group(writers_per_session, phase_kind::frozen,
                                   behaviour_kind::immediate, false, /*registered=*/false,
                                   ctx.opt.group_writers ? "session-" + std::to_string(k) : ""));
  }
  // Stays registered for the rest of the run: an engine cannot unregister a provider.
  std::shared_ptr<shared_bench_provider> shared;
  if (ctx.opt.shared_provider) {
    shared = std::make_shared<shared_bench_provider>();
    if (auto ec = rg.engine().register_provider(shared)) throw std::system_error(ec);
    const auto id = shared->properties().id;
    for (auto* g : groups) {
      shared->serve(*g);
      g->provider_id = id;
    }
  }
  floor_baseline floor(rg.io());
  const std::size_t target_bursts = std::max<std::size_t>(1, (ctx.opt.samples + m - 1) / m);
  std::vector<vss::backup_session> sessions(m);
  std::vector<std::int64_t> t0(m);

  auto burst = [&]() -> bool {
    auto setup_failed = [&](std::size_t k, const std::string& err) {
      ctx.bad.add(title.str() + ": setup of session " + std::to_string(k) + ": " + err);
      for (auto& s : sessions) release_session(s, step_bound);
      for (auto* g : groups) unregister_group(*g);
      return false;
    };
    // No abort in flight: every abort of the last burst reported done, which comes after its
    // AbortSnapshots (and a failed setup released its sessions, waiting for each).
    if (shared) shared->forget_sets();
    for (std::size_t k = 0; k < m; ++k) {
      register_group(rg.engine(), *groups[k]);
      const auto err = setup_identify(rg.engine(), *groups[k], true, sessions[k], step_bound);
      unregister_group(*groups[k]);
      if (!err.empty()) return setup_failed(k, err);
    }
    for (auto* g : groups) register_group(rg.engine(), *g);
    for (std::size_t k = 0; k < m; ++k) {
      const auto err = setup_prepare(*groups[k], sessions[k], step_bound);
      if (!err.empty()) return setup_failed(k, err);
    }
    std::this_thread::sleep_for(idle_gap);
    const std::size_t served_before = shared ? shared->aborts_served() : 0;
    countdown all;
    all.arm(m);
    {
      const instruction_window counted;  // callgrind's count covers the burst alone
      for (std::size_t k = 0; k < m; ++k) {
        t0[k] = now_ns();
        sessions[k].async_abort_backup(groups[k]->abort_handler(all));
      }
      all.wait();
      // The tear-down each abort posts after it reported done is its cost too.
      if (instruction_window::counting()) rg.quiesce();
    }
    // Each abort's AbortSnapshots went to the shared provider, not to its session's own.
    if (shared && shared->aborts_served() - served_before != m) {
      ctx.bad.add(title.str() + ": the shared provider took " +
                  std::to_string(shared->aborts_served() - served_before) + " of " +
                  std::to_string(m) + " AbortSnapshots");
    }
    for (std::size_t k = 0; k < m; ++k) {
      auto& g = *groups[k];
      if (!wait_stamps(g, true) || g.op_ec() != vss::errc::async_cancelled || g.abort_ec()) {
        ctx.bad.add(title.str() + ": session " + std::to_string(k) + " op " + g.op_ec().message() +
                    ", abort " + g.abort_ec().message());
        continue;
      }
      abort_sample a;
      a.cancel_ns = g.op_done_ns.load() - t0[k];
      a.drain_ns = std::max(g.writers_done_ns.load(), g.provider_abort_ns.load()) - t0[k];
      a.return_ns = g.abort_done_ns.load() - t0[k];
      a.done_ns = std::max(a.cancel_ns, a.return_ns);
      record_abort(ctx.res, cell, "openvss", writers_per_session, m, "frozen", "immediate", io, a);
    }
    std::vector<vss::async_op> released;
    released.reserve(m);
    for (auto& s : sessions) released.push_back(s.async_release(vss::use_async_op));
    for (auto& op : released) op.wait_for(step_bound);
    for (auto& s : sessions) s = vss::backup_session{};
    for (auto* g : groups) unregister_group(*g);
    return true;
  };

  interleaver il(
      target_bursts, ctx.opt.budget_s, 0.05, ctx.rng, [&rg] { rg.quiesce(); }, "bursts");
  il.add("openvss", burst, interleaver::role::engine);
  il.add(
      "floor",
      [&] {
        std::this_thread::sleep_for(idle_gap);
        const auto t = floor.run();
        using std::chrono::nanoseconds;
        ctx.res.get(cell, "floor", "t_return", writers_per_session, m, "frozen", "immediate", io)
            .hist.record(nanoseconds(t.caller_seen_ns));
        return true;
      },
      interleaver::role::floor);
  il.run();
  for (auto* g : groups) rg.retire(*g);
  std::cerr << " " << std::fixed << std::setprecision(1)
            << seconds_d(bench_clock::now() - cell_start).count() << " s\n";
}

// ---------------------------------------------------------------------------------------------
// Race mode: AbortBackup from another thread at a random moment right after DoSnapshotSet
// starts. Lost = abort_backup returned S_OK before DoSnapshotSet completed, and DoSnapshotSet
// then completed VSS_S_ASYNC_FINISHED (the set was created although the abort had won).

struct race_report {
  std::size_t iterations = 0;
  std::size_t writers = 10;
  std::size_t io_threads = 2;
  double window_us = 0;  // aborts land uniformly in [0, window] after the DoSnapshotSet call
  std::size_t cancelled = 0;
  std::size_t rejected = 0;  // DoSnapshotSet refused: the abort came first (VSS_E_BAD_STATE)
  std::size_t finished_before_abort = 0;
  std::size_t finished_during_abort = 0;
  std::size_t lost = 0;
  std::size_t other = 0;
  bool ran = false;
};

class aborter {
 public:
  aborter() : thread_([this] { run(); }) {}
  ~aborter() {
    stop_.store(true);
    go_.store(1);
    go_.notify_one();
    at_ns_.store(1);
    thread_.join();
  }
  aborter(const aborter&) = delete;
  aborter& operator=(const aborter&) = delete;

  /// Wakes the aborter for session `s` and returns once it is spinning (so that the moment
  /// given to fire_at() is not delayed by its wake-up).
  void arm(vss::backup_session* s) {
    session_ = s;
    done_.store(false);
    spinning_.store(false);
    at_ns_.store(0);
    go_.store(1, std::memory_order_release);
    go_.notify_one();
    while (!spinning_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  /// The aborter calls abort_backup() at `at_ns` (steady clock, ns).
  void fire_at(std::int64_t at_ns) { at_ns_.store(at_ns, std::memory_order_release); }
  void wait() {
    while (!done_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  std::int64_t called_ns() const { return called_ns_; }
  std::int64_t returned_ns() const { return returned_ns_; }
  std::error_code result() const { return ec_; }

 private:
  void run() {
    for (;;) {
      go_.wait(0, std::memory_order_acquire);
      go_.store(0);
      if (stop_.load()) return;
      spinning_.store(true, std::memory_order_release);
      std::int64_t at = 0;
      while ((at = at_ns_.load(std::memory_order_acquire)) == 0 || now_ns() < at) {
      }
      if (stop_.load()) return;
      called_ns_ = now_ns();
      ec_ = session_->abort_backup();
      returned_ns_ = now_ns();
      done_.store(true, std::memory_order_release);
    }
  }

  std::atomic<std::uint32_t> go_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> spinning_{false};
  std::atomic<bool> done_{false};
  std::atomic<std::int64_t> at_ns_{0};
  vss::backup_session* session_ = nullptr;
  std::int64_t called_ns_ = 0;
  std::int64_t returned_ns_ = 0;
  std::error_code ec_;
  std::thread thread_;  // last
};

race_report run_race(context& ctx, rig& rg) {
  race_report rep;
  rep.io_threads = rg.io_threads();
  rep.ran = true;
  std::cerr << "[bench] race mode, " << ctx.opt.race_iterations << " iterations ..." << std::flush;
  const auto start = bench_clock::now();
  auto& g = rg.add_group(rep.writers, phase_kind::frozen, behaviour_kind::immediate, false);
  g.hold = false;

  // Calibration: how long an unaborted DoSnapshotSet takes here.
  std::vector<std::int64_t> durations;
  for (int i = 0; i < 20; ++i) {
    vss::backup_session s;
    if (!setup_session(rg.engine(), g, false, s, step_bound).empty()) break;
    const auto t = now_ns();
    s.async_do_snapshot_set(g.op_handler());
    if (g.wait_op(step_bound)) durations.push_back(g.op_done_ns.load() - t);
    release_session(s, step_bound);
  }
  std::sort(durations.begin(), durations.end());
  const std::int64_t median = durations.empty() ? 200'000 : durations[durations.size() / 2];
  const std::int64_t window = median + median / 2;
  rep.window_us = static_cast<double>(window) / 1000.0;
  std::uniform_int_distribution<std::int64_t> skew(0, window);

  aborter ab;
  // Uncapped (--budget none): the iteration count alone ends it.
  const bool capped = std::isfinite(ctx.opt.budget_s);
  const auto deadline = start + std::chrono::duration_cast<bench_clock::duration>(
                                    seconds_d(capped ? std::max(ctx.opt.budget_s, 10.0) : 0.0));
  for (std::size_t i = 0; i < ctx.opt.race_iterations && (!capped || bench_clock::now() < deadline);
       ++i) {
    vss::backup_session s;
    const auto err = setup_session(rg.engine(), g, false, s, step_bound);
    if (!err.empty()) {
      ctx.bad.add("race setup: " + err);
      release_session(s, step_bound);
      break;
    }
    const auto delay = skew(ctx.rng);
    ab.arm(&s);
    const auto t_start = now_ns();
    ab.fire_at(t_start + delay);
    s.async_do_snapshot_set(g.op_handler());
    ab.wait();
    const bool completed = g.wait_op(step_bound);
    ++rep.iterations;
    const auto op_ec = g.op_ec();
    const auto done = g.op_done_ns.load();
    if (!completed || ab.result()) {
      ++rep.other;
      ctx.bad.add("race: " + std::string(completed ? "" : "DoSnapshotSet never completed; ") +
                  "abort_backup returned " + ab.result().message());
    } else if (op_ec == vss::errc::async_cancelled) {
      ++rep.cancelled;
    } else if (op_ec == vss::errc::bad_state) {
      ++rep.rejected;
    } else if (op_ec == vss::errc::async_finished || !op_ec) {
      if (done < ab.called_ns()) {
        ++rep.finished_before_abort;
      } else if (done <= ab.returned_ns()) {
        ++rep.finished_during_abort;
      } else {
        ++rep.lost;
      }
    } else {
      ++rep.other;
      ctx.bad.add("race: DoSnapshotSet completed with " + op_ec.message());
    }
    release_session(s, step_bound);
    rg.quiesce();
  }
  rg.retire(g);
  std::cerr << " " << std::fixed << std::setprecision(1)
            << seconds_d(bench_clock::now() - start).count() << " s\n";
  return rep;
}

// ---------------------------------------------------------------------------------------------
// Runs and their aggregation.

/// What one run of the whole measurement produced.
struct run_result {
  results res;
  std::vector<int> main_cells;
  race_report race;
  std::vector<throughput_point> throughput;
};

/// One (cell, system, metric) over every run.
struct agg_row {
  std::string system;
  std::string metric;
  std::size_t writers = 0;
  std::size_t sessions = 1;
  std::string phase;
  std::string behaviour;
  std::size_t io_threads = 0;
  int cell = 0;
  std::vector<summary> per_run;  // the runs in which the series had samples
  /// p50, p99, p99.9: medians of the per-run values; max: the largest of any run; samples:
  /// summed over the runs.
  summary med;
  double p50_min = 0, p50_max = 0, p99_min = 0, p99_max = 0;
};

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Every run's cells matched by title (each run creates the same cells in the same order).
struct aggregate {
  std::size_t runs = 0;
  std::vector<std::string> titles;
  std::vector<agg_row> rows;
  std::vector<int> main_cells;

  const agg_row* find(int cell, std::string_view system, std::string_view metric) const {
    for (const auto& r : rows) {
      if (r.cell == cell && r.system == system && r.metric == metric) return &r;
    }
    return nullptr;
  }
  bool is_main(int cell) const {
    return std::find(main_cells.begin(), main_cells.end(), cell) != main_cells.end();
  }
};

aggregate aggregate_runs(std::vector<run_result>& runs) {
  aggregate a;
  a.runs = runs.size();
  for (auto& r : runs) {
    std::vector<int> cell_of;  // this run's cell -> aggregate cell
    for (const auto& t : r.res.titles()) {
      auto it = std::find(a.titles.begin(), a.titles.end(), t);
      if (it == a.titles.end()) {
        a.titles.push_back(t);
        it = std::prev(a.titles.end());
      }
      cell_of.push_back(static_cast<int>(it - a.titles.begin()));
    }
    for (const int c : r.main_cells) {
      if (!a.is_main(cell_of[static_cast<std::size_t>(c)])) {
        a.main_cells.push_back(cell_of[static_cast<std::size_t>(c)]);
      }
    }
    for (auto& sp : r.res.all()) {
      const auto s = sp->hist.summarise();
      if (s.samples == 0) continue;
      const int cell = cell_of[static_cast<std::size_t>(sp->cell)];
      auto it = std::find_if(a.rows.begin(), a.rows.end(), [&](const agg_row& x) {
        return x.cell == cell && x.system == sp->system && x.metric == sp->metric &&
               x.writers == sp->writers && x.sessions == sp->sessions && x.phase == sp->phase &&
               x.behaviour == sp->behaviour && x.io_threads == sp->io_threads;
      });
      if (it == a.rows.end()) {
        agg_row row;
        row.system = sp->system;
        row.metric = sp->metric;
        row.writers = sp->writers;
        row.sessions = sp->sessions;
        row.phase = sp->phase;
        row.behaviour = sp->behaviour;
        row.io_threads = sp->io_threads;
        row.cell = cell;
        a.rows.push_back(std::move(row));
        it = std::prev(a.rows.end());
      }
      it->per_run.push_back(s);
    }
  }
  for (auto& row : a.rows) {
    std::vector<double> p50, p99, p999;
    for (const auto& s : row.per_run) {
      p50.push_back(s.p50_us);
      p99.push_back(s.p99_us);
      p999.push_back(s.p999_us);
      row.med.samples += s.samples;
      row.med.max_us = std::max(row.med.max_us, s.max_us);
    }
    row.med.p50_us = median_of(p50);
    row.med.p99_us = median_of(p99);
    row.med.p999_us = median_of(p999);
    row.p50_min = *std::min_element(p50.begin(), p50.end());
    row.p50_max = *std::max_element(p50.begin(), p50.end());
    row.p99_min = *std::min_element(p99.begin(), p99.end());
    row.p99_max = *std::max_element(p99.begin(), p99.end());
  }
  return a;
}

race_report merge_races(const std::vector<run_result>& runs) {
  race_report m;
  for (const auto& r : runs) {
    if (!r.race.ran) continue;
    m.ran = true;
    m.writers = r.race.writers;
    m.io_threads = r.race.io_threads;
    m.window_us = std::max(m.window_us, r.race.window_us);
    m.iterations += r.race.iterations;
    m.cancelled += r.race.cancelled;
    m.rejected += r.race.rejected;
    m.finished_before_abort += r.race.finished_before_abort;
    m.finished_during_abort += r.race.finished_during_abort;
    m.lost += r.race.lost;
    m.other += r.race.other;
  }
  return m;
}

/// One throughput configuration over every run.
struct throughput_agg {
  std::size_t io_threads = 0;
  std::size_t concurrency = 0;
  std::size_t writers = 0;
  std::vector<double> per_s;  // per run
  std::size_t backups = 0;
  std::size_t failures = 0;
  double seconds = 0;
  double median = 0, min = 0, max = 0;
};

std::vector<throughput_agg> aggregate_throughput(const std::vector<run_result>& runs) {
  std::vector<throughput_agg> out;
  for (const auto& r : runs) {
    for (const auto& p : r.throughput) {
      auto it = std::find_if(out.begin(), out.end(), [&](const throughput_agg& t) {
        return t.io_threads == p.io_threads && t.concurrency == p.concurrency &&
               t.writers == p.writers;
      });
      if (it == out.end()) {
        out.push_back({p.io_threads, p.concurrency, p.writers});
        it = std::prev(out.end());
      }
      it->per_s.push_back(p.per_second());
      it->backups += p.backups;
      it->failures += p.failures;
      it->seconds += p.seconds;
    }
  }
  for (auto& t : out) {
    t.median = median_of(t.per_s);
    t.min = *std::min_element(t.per_s.begin(), t.per_s.end());
    t.max = *std::max_element(t.per_s.begin(), t.per_s.end());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output.

std::string fmt_us(double us) {
  std::ostringstream os;
  if (us >= 1000) {
    os << std::fixed << std::setprecision(0) << us;
  } else if (us >= 100) {
    os << std::fixed << std::setprecision(1) << us;
  } else {
    os << std::fixed << std::setprecision(2) << us;
  }
  return os.str();
}

/// "median [min-max]" with several runs, else the value alone.
std::string fmt_range(double median, double lo, double hi, std::size_t runs) {
  if (runs <= 1) return fmt_us(median);
  return fmt_us(median) + " [" + fmt_us(lo) + "-" + fmt_us(hi) + "]";
}

std::string fmt_ratio(double a, double b) {
  if (!(b > 0) || !std::isfinite(a / b)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(a / b >= 10 ? 1 : 2) << a / b << "x";
  return os.str();
}

std::string fmt_bytes(double bytes, bool mib) {
  std::ostringstream os;
  if (mib) {
    os << std::fixed << std::setprecision(1) << bytes / (1024.0 * 1024.0) << " MiB";
  } else {
    os << std::fixed << std::setprecision(0) << bytes << " B";
  }
  return os.str();
}

std::string pad(std::string s, std::size_t w, bool right = false) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

constexpr std::string_view system_order[] = {
    "openvss",          "cancel_leg", "floor", "loop", "signals2", "signals2_post_each",
    "thread_per_writer"};
constexpr std::string_view metric_order[] = {"t_cancel", "t_drain", "t_return", "t_done"};

template <std::size_t N>
std::size_t rank_of(const std::string_view (&order)[N], std::string_view name) {
  return static_cast<std::size_t>(std::find(std::begin(order), std::end(order), name) -
                                  std::begin(order));
}

void print_tables(const aggregate& a) {
  const bool ranges = a.runs > 1;
  const std::size_t pw = ranges ? 26 : 10;  // width of the p50 and p99 columns
  for (std::size_t c = 0; c < a.titles.size(); ++c) {
    const int cell = static_cast<int>(c);
    std::cout << "\n== " << a.titles[c] << "\n";
    std::cout << pad("system", 20) << pad("metric", 10) << pad("samples", 8, true)
              << pad(ranges ? "p50 [min-max]" : "p50", pw, true)
              << pad(ranges ? "p99 [min-max]" : "p99", pw, true) << pad("p99.9", 10, true)
              << pad("max", 10, true) << "   x floor p50/p99    x naive p50/p99\n";
    const agg_row* floor_rt = a.find(cell, "floor", "t_return");
    const agg_row* naive_rt = a.find(cell, "signals2_post_each", "t_return");
    std::vector<const agg_row*> rows;
    for (const auto& r : a.rows) {
      if (r.cell == cell) rows.push_back(&r);
    }
    std::stable_sort(rows.begin(), rows.end(), [](const agg_row* x, const agg_row* y) {
      return std::pair(rank_of(system_order, x->system), rank_of(metric_order, x->metric)) <
             std::pair(rank_of(system_order, y->system), rank_of(metric_order, y->metric));
    });
    for (const agg_row* r : rows) {
      const auto& s = r->med;
      std::cout << pad(r->system, 20) << pad(r->metric, 10)
                << pad(std::to_string(s.samples), 8, true)
                << pad(fmt_range(s.p50_us, r->p50_min, r->p50_max, a.runs), pw, true)
                << pad(fmt_range(s.p99_us, r->p99_min, r->p99_max, a.runs), pw, true)
                << pad(fmt_us(s.p999_us), 10, true) << pad(fmt_us(s.max_us), 10, true);
      if ((r->system == "openvss" || r->system == "cancel_leg") && floor_rt) {
        const auto& fl = floor_rt->med;
        std::cout << "   "
                  << pad(fmt_ratio(s.p50_us, fl.p50_us) + " / " + fmt_ratio(s.p99_us, fl.p99_us),
                         19);
        if (naive_rt) {
          const auto& nv = naive_rt->med;
          std::cout << pad(fmt_ratio(s.p50_us, nv.p50_us) + " / " + fmt_ratio(s.p99_us, nv.p99_us),
                           19);
        }
      }
      std::cout << "\n";
    }
    // The headline figure against every baseline of the cell.
    if (const agg_row* done = a.find(cell, "openvss", "t_done"); done && naive_rt) {
      const auto& d = done->med;
      std::cout << "   openvss t_done vs each baseline's caller-seen time (p50 / p99):";
      for (const char* b :
           {"floor", "loop", "signals2", "signals2_post_each", "thread_per_writer"}) {
        if (const agg_row* bs = a.find(cell, b, "t_return")) {
          const auto& x = bs->med;
          std::cout << "  " << b << " " << fmt_ratio(d.p50_us, x.p50_us) << "/"
                    << fmt_ratio(d.p99_us, x.p99_us);
        }
      }
      std::cout << "\n";
    }
  }
}

struct target {
  std::size_t n;
  double p50, p99;
};
constexpr target targets[] = {{1, 30, 150}, {100, 35, 200}, {1000, 50, 250}, {10000, 150, 450}};

void print_summary(const aggregate& a) {
  bool any = false;
  for (const auto& r : a.rows) any = any || (r.system == "openvss" && a.is_main(r.cell));
  if (!any) return;
  const bool ranges = a.runs > 1;
  const std::size_t ow = ranges ? 48 : 18;
  std::cout
      << "\n== Summary: M=1, phase=frozen, trivial writers; openvss t_done (caller-seen abort "
         "done) vs same-run floor and naive (signals2_post_each), p50 / p99 in us"
      << (ranges ? "; medians of " + std::to_string(a.runs) + " runs [min-max]" : std::string())
      << "\n";
  std::cout << pad("io", 4) << pad("N", 7, true) << pad("openvss", ow, true)
            << pad("t_return", 18, true) << pad("floor", 18, true) << pad("naive", 18, true)
            << pad("x floor", 16, true) << pad("x naive", 16, true) << pad("target", 14, true)
            << "\n";
  for (const auto& r : a.rows) {
    if (r.system != "openvss" || r.metric != "t_done" || !a.is_main(r.cell)) continue;
    const auto& d = r.med;
    auto get = [&](const char* sys, const char* metric) {
      const agg_row* x = a.find(r.cell, sys, metric);
      return x ? x->med : summary{};
    };
    const auto ret = get("openvss", "t_return");
    const auto fl = get("floor", "t_return");
    const auto nv = get("signals2_post_each", "t_return");
    auto pair = [](const summary& s) {
      return s.samples ? fmt_us(s.p50_us) + " / " + fmt_us(s.p99_us) : std::string("-");
    };
    std::string tgt = "-";
    for (const auto& t : targets) {
      if (t.n == r.writers) {
        tgt = fmt_us(t.p50) + " / " + fmt_us(t.p99);
        tgt += (d.p50_us <= t.p50 && d.p99_us <= t.p99) ? " ok" : " MISS";
      }
    }
    std::cout << pad(std::to_string(r.io_threads), 4) << pad(std::to_string(r.writers), 7, true)
              << pad(fmt_range(d.p50_us, r.p50_min, r.p50_max, a.runs) + " / " +
                         fmt_range(d.p99_us, r.p99_min, r.p99_max, a.runs),
                     ow, true)
              << pad(pair(ret), 18, true) << pad(pair(fl), 18, true) << pad(pair(nv), 18, true)
              << pad(fmt_ratio(d.p50_us, fl.p50_us) + "/" + fmt_ratio(d.p99_us, fl.p99_us), 16,
                     true)
              << pad(nv.samples
                         ? fmt_ratio(d.p50_us, nv.p50_us) + "/" + fmt_ratio(d.p99_us, nv.p99_us)
                         : std::string("-"),
                     16, true)
              << pad(tgt, 14 + 5, true) << "\n";
  }
}

void print_race(const race_report& r, std::size_t runs) {
  if (!r.ran) return;
  std::cout << "\n== Race mode: AbortBackup from another thread 0-" << fmt_us(r.window_us)
            << " us after DoSnapshotSet is called (N=" << r.writers
            << ", io_threads=" << r.io_threads << ")" << (runs > 1 ? ", summed over runs" : "")
            << "\n"
            << "   iterations " << r.iterations << ": cancelled " << r.cancelled
            << ", rejected (abort first) " << r.rejected << ", finished before the abort call "
            << r.finished_before_abort << ", finished while abort_backup ran "
            << r.finished_during_abort << ", LOST " << r.lost << ", other " << r.other << "\n";
}

void print_memory(const memory_report& m) {
  if (!m.ran) return;
  std::size_t io = m.rows.empty() ? 0 : m.rows.front().io_threads;
  std::cout << "\n== Memory (heap: glibc mallinfo2, bytes malloc'd and in use, all arenas; RSS: "
               "VmRSS; peak: VmHWM"
            << (m.peak_reset ? ", reset before each scenario" : ", NOT reset: process peak")
            << "), io_threads=" << io << "\n";
  for (const auto& r : m.rows) {
    const bool peak = r.metric == "peak_rss_bytes" || r.metric == "rss_bytes";
    std::cout << "   " << pad(r.what, 78) << pad(fmt_bytes(r.value, peak), 14, true) << "\n";
  }
  std::cout << "   (how each figure is taken: bench/resource_bench.hpp)\n";
}

void print_throughput(const std::vector<throughput_agg>& tps, const aggregate& a) {
  if (tps.empty()) return;
  const bool ranges = a.runs > 1;
  std::cout << "\n== Throughput: complete backups per second (component mode, full backup: "
               "gather, prepare, DoSnapshotSet, BackupComplete, release; memory provider; one "
               "session at a time per harness thread, 10 writers each)"
            << (ranges ? "; medians of " + std::to_string(a.runs) + " runs [min-max]"
                       : std::string())
            << "\n";
  std::cout << pad("io", 4) << pad("sessions", 9, true) << pad("writers", 8, true)
            << pad("backups/s", ranges ? 24 : 11, true) << pad("backups", 9, true)
            << pad("failed", 7, true) << pad("per backup p50 / p99 us", 26, true) << "\n";
  for (const auto& t : tps) {
    std::ostringstream rate;
    rate << std::fixed << std::setprecision(0) << t.median;
    if (ranges) rate << " [" << t.min << "-" << t.max << "]";
    std::string lat = "-";
    for (const auto& r : a.rows) {
      if (r.metric == "t_backup" && r.io_threads == t.io_threads && r.sessions == t.concurrency) {
        lat = fmt_us(r.med.p50_us) + " / " + fmt_us(r.med.p99_us);
      }
    }
    std::cout << pad(std::to_string(t.io_threads), 4) << pad(std::to_string(t.concurrency), 9, true)
              << pad(std::to_string(t.writers), 8, true) << pad(rate.str(), ranges ? 24 : 11, true)
              << pad(std::to_string(t.backups), 9, true) << pad(std::to_string(t.failures), 7, true)
              << pad(lat, 26, true) << "\n";
  }
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) v = 0;
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << v;
  return os.str();
}

bool write_json(const aggregate& a, const memory_report& mem,
                const std::vector<throughput_agg>& tps, const race_report& race,
                std::size_t anomaly_count, const std::string& path,
                const std::vector<std::pair<std::string, std::string>>& machine) {
  std::ofstream f(path);
  if (!f) return false;
  f << "{\n  \"machine\": {";
  for (std::size_t i = 0; i < machine.size(); ++i) {
    f << (i ? ",\n    " : "\n    ") << '"' << json_escape(machine[i].first) << "\": \""
      << json_escape(machine[i].second) << '"';
  }
  f << "\n  },\n  \"results\": [";
  bool first = true;
  for (const auto& r : a.rows) {
    const auto& s = r.med;
    f << (first ? "\n    " : ",\n    ");
    first = false;
    f << "{\"system\": \"" << json_escape(r.system) << "\", \"metric\": \"" << json_escape(r.metric)
      << "\", \"writers\": " << r.writers << ", \"sessions\": " << r.sessions << ", \"phase\": \""
      << json_escape(r.phase) << "\", \"behaviour\": \"" << json_escape(r.behaviour)
      << "\", \"io_threads\": " << r.io_threads << ", \"samples\": " << s.samples
      << ", \"p50_us\": " << json_number(s.p50_us) << ", \"p99_us\": " << json_number(s.p99_us)
      << ", \"p999_us\": " << json_number(s.p999_us) << ", \"max_us\": " << json_number(s.max_us)
      << ", \"runs\": " << r.per_run.size() << ", \"p50_us_min\": " << json_number(r.p50_min)
      << ", \"p50_us_max\": " << json_number(r.p50_max)
      << ", \"p99_us_min\": " << json_number(r.p99_min)
      << ", \"p99_us_max\": " << json_number(r.p99_max) << "}";
  }
  f << "\n  ],\n  \"memory\": [";
  first = true;
  for (const auto& r : mem.rows) {
    f << (first ? "\n    " : ",\n    ");
    first = false;
    f << "{\"scenario\": \"" << json_escape(r.scenario) << "\", \"metric\": \""
      << json_escape(r.metric) << "\", \"writers\": " << r.writers
      << ", \"sessions\": " << r.sessions << ", \"io_threads\": " << r.io_threads
      << ", \"value\": " << json_number(r.value) << ", \"unit\": \"" << json_escape(r.unit)
      << "\", \"method\": \"" << json_escape(r.method) << "\"}";
  }
  f << "\n  ],\n  \"throughput\": [";
  first = true;
  for (const auto& t : tps) {
    f << (first ? "\n    " : ",\n    ");
    first = false;
    f << "{\"system\": \"openvss\", \"metric\": \"backups_per_s\", \"writers\": " << t.writers
      << ", \"sessions\": " << t.concurrency << ", \"io_threads\": " << t.io_threads
      << ", \"runs\": " << t.per_s.size() << ", \"value\": " << json_number(t.median)
      << ", \"value_min\": " << json_number(t.min) << ", \"value_max\": " << json_number(t.max)
      << ", \"backups\": " << t.backups << ", \"failures\": " << t.failures
      << ", \"seconds\": " << json_number(t.seconds) << "}";
  }
  f << "\n  ]";
  if (race.ran) {
    f << ",\n  \"race\": {\"iterations\": " << race.iterations << ", \"writers\": " << race.writers
      << ", \"io_threads\": " << race.io_threads << ", \"runs\": " << a.runs
      << ", \"window_us\": " << json_number(race.window_us) << ", \"cancelled\": " << race.cancelled
      << ", \"rejected\": " << race.rejected
      << ", \"finished_before_abort\": " << race.finished_before_abort
      << ", \"finished_during_abort\": " << race.finished_during_abort
      << ", \"lost\": " << race.lost << ", \"other\": " << race.other << "}";
  }
  f << ",\n  \"anomalies\": " << anomaly_count << "\n}\n";
  return static_cast<bool>(f);
}

/// Percentiles against writer count N (M = 1) and, if the session sweep ran, against the
/// number of sessions M aborted in one burst (10 writers each); io_threads = the largest
/// measured. Drawn with gnuplot.
void write_plot(const aggregate& a, const options& opt, const std::string& png) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::cout << "\n--plot: gnuplot is not on PATH (Debian: apt-get install gnuplot-nox); "
                 "no plot written\n";
    return;
  }
  std::size_t io = 0;
  for (const auto& i : opt.io_threads) io = std::max(io, i);
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"openvss", "t_done"},
      {"floor", "t_return"},
      {"loop", "t_return"},
      {"signals2", "t_return"},
      {"signals2_post_each", "t_return"},
      {"thread_per_writer", "t_return"}};
  std::map<std::size_t, std::map<std::string, summary>> by_n;
  for (const auto& r : a.rows) {
    if (r.io_threads != io || !a.is_main(r.cell)) continue;
    for (const auto& [sys, metric] : lines) {
      if (r.system == sys && r.metric == metric) by_n[r.writers][sys] = r.med;
    }
  }
  // M sweep: the session cells, and the N = 10 cell of the writer sweep as M = 1.
  std::map<std::size_t, std::map<std::string, summary>> by_m;
  for (const auto& r : a.rows) {
    if (r.io_threads != io || r.writers != 10 || r.phase != "frozen" ||
        r.behaviour != "immediate") {
      continue;
    }
    if (r.system == "openvss" && r.metric == "t_done") by_m[r.sessions]["openvss"] = r.med;
    if (r.system == "floor" && r.metric == "t_return") by_m[r.sessions]["floor"] = r.med;
  }
  if (by_m.size() < 2) by_m.clear();  // one point is no curve
  if (by_n.empty() && by_m.empty()) {
    std::cout << "\n--plot: nothing to plot\n";
    return;
  }
  const auto dir = std::filesystem::temp_directory_path();
  const auto stem = "openvss-bench-plot-" + std::to_string(::getpid());
  const auto dat = dir / (stem + ".dat");
  const auto dat_m = dir / (stem + "-m.dat");
  const auto gp = dir / (stem + ".gp");
  {
    std::ofstream d(dat_m);
    d << "# M openvss_p50 openvss_p99 floor_p50 floor_p99\n";
    for (const auto& [m, row] : by_m) {
      d << m;
      for (const char* sys : {"openvss", "floor"}) {
        auto it = row.find(sys);
        if (it == row.end() || it->second.samples == 0) {
          d << " ? ?";
        } else {
          d << " " << std::max(0.01, it->second.p50_us) << " " << std::max(0.01, it->second.p99_us);
        }
      }
      d << "\n";
    }
  }
  {
    std::ofstream d(dat);
    d << "# N";
    for (const auto& l : lines) d << " " << l.first << "_p50 " << l.first << "_p99";
    d << "\n";
    for (const auto& [n, row] : by_n) {
      d << n;
      for (const auto& l : lines) {
        auto it = row.find(l.first);
        if (it == row.end() || it->second.samples == 0) {
          d << " ? ?";
        } else {
          d << " " << std::max(0.01, it->second.p50_us) << " " << std::max(0.01, it->second.p99_us);
        }
      }
      d << "\n";
    }
  }
  {
    std::ofstream g(gp);
    const int panels = (by_n.empty() ? 0 : 2) + (by_m.empty() ? 0 : 1);
    g << "set terminal pngcairo size " << 700 * panels << ",600 noenhanced\n"
      << "set output '" << png << "'\n"
      << "set datafile missing '?'\n"
      << "set logscale xy\nset grid\nset key top left\n"
      << "set ylabel 'microseconds'\n"
      << "set multiplot layout 1," << panels
      << " title 'openvss abort latency vs same-run baselines, " << io
      << " io threads, frozen, trivial writers"
      << (a.runs > 1 ? ", median of " + std::to_string(a.runs) + " runs" : std::string()) << "'\n";
    for (int pct = 0; pct < 2 && !by_n.empty(); ++pct) {
      g << "set xlabel 'writers N (M = 1 session)'\n";
      g << "set title '" << (pct == 0 ? "p50" : "p99") << "'\n"
        << "plot ";
      for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto col = 2 + 2 * i + static_cast<std::size_t>(pct);
        g << (i ? ", " : "") << "'" << dat.string() << "' using 1:" << col
          << " with linespoints lw 2 title '" << lines[i].first << " " << lines[i].second << "'";
      }
      g << "\n";
    }
    if (!by_m.empty()) {
      g << "set title 'M sessions aborted in one burst'\n"
        << "set xlabel 'sessions M (10 writers each)'\n"
        << "plot '" << dat_m.string()
        << "' using 1:2 with linespoints lw 2 title 'openvss t_done p50', '" << dat_m.string()
        << "' using 1:3 with linespoints lw 2 title 'openvss t_done p99', '" << dat_m.string()
        << "' using 1:4 with linespoints lw 2 title 'floor p50', '" << dat_m.string()
        << "' using 1:5 with linespoints lw 2 title 'floor p99'\n";
    }
    g << "unset multiplot\n";
  }
  const auto cmd = "gnuplot '" + gp.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(dat);
  std::filesystem::remove(dat_m);
  std::filesystem::remove(gp);
  if (rc != 0) {
    std::cout << "\n--plot: gnuplot failed (exit " << rc << "); no plot written\n";
  } else {
    std::cout << "\nplot written to " << png << "\n";
  }
}

// ---------------------------------------------------------------------------------------------
// One run of the whole measurement.

/// The throughput configurations: each io-thread count x each number of sessions in flight.
void run_throughput_cells(context& ctx, run_result& rr) {
  constexpr std::size_t writers = 10;
  for (const auto io : ctx.opt.io_threads) {
    for (const auto c : ctx.opt.throughput_sessions) {
      std::ostringstream title;
      title << "Throughput: complete backups, " << c << " session(s) in flight x " << writers
            << " writers, io_threads=" << io << " (t_backup: one backup, create to released)";
      std::cerr << "[bench] " << title.str() << " ..." << std::flush;
      const int cell = ctx.res.new_cell(title.str());
      auto& sr =
          ctx.res.get(cell, "openvss", "t_backup", writers, c, "full_backup", "immediate", io);
      std::vector<std::string> errors;
      const auto pt =
          run_throughput(io, c, writers, ctx.opt.throughput_s, step_bound, sr.hist, errors);
      for (auto& e : errors) ctx.bad.add(std::move(e));
      rr.throughput.push_back(pt);
      std::cerr << " " << std::fixed << std::setprecision(0) << pt.per_second() << " backups/s\n";
    }
  }
}

/// The latency sweeps (writers, sessions, phases, behaviours) and the race mode.
race_report run_latency(context& ctx) {
  race_report race;
  std::size_t max_io = 0;
  for (const auto io : ctx.opt.io_threads) {
    max_io = std::max(max_io, io);
    if (ctx.opt.writers.empty()) continue;
    rig rg(io, ctx.opt.pin_io);
    for (const auto n : ctx.opt.writers) {
      run_writer_cell(ctx, rg, n, phase_kind::frozen, behaviour_kind::immediate, true,
                      ctx.opt.budget_s);
    }
  }
  // A JSON row is keyed by (system, metric, writers, sessions, phase, behaviour, io_threads):
  // a cell the writer sweep already measured with the same key is not measured again. The
  // M = 1 point of the session sweep is then the N = 10 cell (blocking abort_backup), and the
  // frozen point of the phase sweep the N = 100 cell.
  auto in_writer_sweep = [&](std::size_t n) {
    return std::find(ctx.opt.writers.begin(), ctx.opt.writers.end(), n) != ctx.opt.writers.end();
  };
  {
    rig rg(max_io, ctx.opt.pin_io);
    for (const auto m : ctx.opt.sessions) {
      if (m == 1 && in_writer_sweep(10)) {
        std::cerr << "[bench] M=1: the N=10 cell of the writer sweep is the M=1 point\n";
        continue;
      }
      run_session_cell(ctx, rg, m);
    }
    for (const auto p : ctx.opt.phases) {
      if (p == phase_kind::frozen && in_writer_sweep(100)) {
        std::cerr << "[bench] phase=frozen: the N=100 cell of the writer sweep is that point\n";
        continue;
      }
      run_writer_cell(ctx, rg, 100, p, behaviour_kind::immediate, false, ctx.opt.budget_s / 3);
    }
    if (ctx.opt.behaviours) {
      for (const auto b : {behaviour_kind::async_1ms, behaviour_kind::blocking_1ms}) {
        run_writer_cell(ctx, rg, 10, phase_kind::frozen, b, false, ctx.opt.budget_s / 3);
      }
    }
    if (ctx.opt.race_iterations > 0) race = run_race(ctx, rg);
  }
  return race;
}

int run(int argc, char** argv) {
  context ctx;
  ctx.opt = parse(argc, argv);
  const auto& opt = ctx.opt;
  ctx.rng.seed(opt.seed);
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  const auto load_start = read_first_line("/proc/loadavg");
  const auto start = bench_clock::now();

  std::cout << "openvss-bench-abort: " << (opt.quick ? "quick" : "full") << " run"
            << (opt.runs > 1 ? " x " + std::to_string(opt.runs) : std::string()) << ", "
            << opt.samples << " samples per cell (";
  if (std::isfinite(opt.budget_s)) {
    std::cout << "capped at " << opt.budget_s << " s per cell";
  } else {
    std::cout << "no time cap: every engine cell runs to its samples";
  }
  std::cout << "), load average at start: " << load_start << "\n";
#ifndef NDEBUG
  std::cout << "note: built without NDEBUG; use the release preset for real numbers\n";
#endif
  // Memory first, once: before the latency cells have grown and fragmented the heap.
  memory_report mem;
  if (opt.memory) {
    std::size_t max_io = 1;
    for (const auto io : opt.io_threads) max_io = std::max(max_io, io);
    std::cerr << "[bench] memory: " << opt.memory_writers << " writers, " << opt.memory_sessions
              << " sessions x 10 writers, io_threads=" << max_io << " ..." << std::flush;
    const auto t = bench_clock::now();
    mem = run_memory(opt.memory_writers, opt.memory_sessions, max_io, step_bound);
    for (auto& e : mem.errors) ctx.bad.add(e);
    std::cerr << " " << std::fixed << std::setprecision(1)
              << seconds_d(bench_clock::now() - t).count() << " s\n";
  }

  // The memory-bound cells move with it from day to day (memory_latency.hpp): taken before the
  // runs and after them, so a run shows whether the machine changed under it. After the
  // memory scenarios, so that their peak RSS never includes the probe's mapping.
  const auto memory_latency_start = memory_latency_profile();
  std::cout << "memory latency at start, ns per dependent load: " << memory_latency_start << "\n";

  std::vector<run_result> runs;
  for (std::size_t r = 0; r < opt.runs; ++r) {
    if (opt.runs > 1) std::cerr << "[bench] run " << r + 1 << " of " << opt.runs << "\n";
    ctx.res = results{};
    ctx.main_cells.clear();
    ctx.cancel_leg_cell.clear();
    run_result rr;
    if (opt.throughput) run_throughput_cells(ctx, rr);
    if (opt.latency) rr.race = run_latency(ctx);
    rr.res = std::move(ctx.res);
    rr.main_cells = ctx.main_cells;
    runs.push_back(std::move(rr));
  }
  const auto agg = aggregate_runs(runs);
  const auto tps = aggregate_throughput(runs);
  const auto race = merge_races(runs);

  if (opt.runs > 1) {
    std::cout << "\n"
              << opt.runs
              << " runs: p50, p99 and p99.9 are medians of the per-run values, [min-max] their "
                 "spread; max is the largest of any run; samples are summed\n";
  }
  print_memory(mem);
  print_throughput(tps, agg);
  print_tables(agg);
  print_summary(agg);
  print_race(race, opt.runs);
  std::cout << "\nanomalies (samples not counted): " << ctx.bad.count << "\n";
  for (const auto& a : ctx.bad.first) std::cout << "   " << a << "\n";
  const auto memory_latency_end = memory_latency_profile();
  std::cout << "memory latency at end, ns per dependent load: " << memory_latency_end << "\n";
  std::cout << "load average at end: " << read_first_line("/proc/loadavg") << "; total "
            << std::fixed << std::setprecision(1) << seconds_d(bench_clock::now() - start).count()
            << " s\n";

  auto machine = machine_info(opt, command, load_start);
  machine.emplace_back("memory_latency_ns_start", memory_latency_start);
  machine.emplace_back("memory_latency_ns_end", memory_latency_end);
  if (!opt.json_path.empty()) {
    if (!write_json(agg, mem, tps, race, ctx.bad.count, opt.json_path, machine)) {
      std::cerr << "openvss-bench-abort: cannot write " << opt.json_path << "\n";
      return 1;
    }
    std::cout << "results written to " << opt.json_path << "\n";
  }
  if (!opt.plot_path.empty()) write_plot(agg, opt, opt.plot_path);
  return 0;
}

}  // namespace
}  // namespace vss::bench

int main(int argc, char** argv) { return vss::bench::run(argc, argv); }
