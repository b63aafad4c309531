// openvss-bench-micro — Google Benchmark micro-costs of the pieces on the abort path, with no
// thread hand-off (perf-anchors.md §3.3 measured the same for std::function and Signals2):
//
//   BM_phase_collector_settle/N   build a collector of N slots, settle every slot, fire it
//   BM_shard_emit_abort/N         one shard's OnAbort fan-out: the shard loop over N
//                                 participants (deliver_to_shard) to trivial writers that
//                                 complete inline, plus the collector they settle
//   BM_state_machine_step         one requester call through the call-order state machine
//   BM_async_op_complete_query    create an IVssAsync state, complete it, query its status
//   BM_async_op_query             query_status() of a completed operation
//   BM_memory_provider_set/K      one snapshot set's life in a memory_provider (prepare,
//                                 end-prepare, pre-commit, commit, abort) while K other sets
//                                 are held by the same provider: M sessions sharing one
//                                 provider make K ~ M
//   BM_memory_latency/KiB         one dependent load from a random cyclic chain of that many
//                                 KiB: where the machine's caches end (the burst of
//                                 decisions §37 is bound by it)
//
// Items/s is per slot, per writer, per step or per hop. Private headers from src/ are used on
// purpose.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

#include "memory_latency.hpp"
#include "session/state_machine.hpp"
#include "vss/async_op.hpp"
#include "vss/memory_provider.hpp"
#include "vss/writer.hpp"
#include "writers/fan_out.hpp"
#include "writers/phase_collector.hpp"

namespace {

namespace vd = vss::detail;

void BM_phase_collector_settle(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::int64_t fired = 0;
  for (auto _ : state) {
    vd::phase_collector c(vss::writer_event::abort, n, [&fired] { ++fired; });
    for (std::uint32_t i = 0; i < n; ++i) c.settle(i, vd::slot_outcome::completed);
    c.start();
  }
  if (fired != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("a collector did not fire exactly once");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_phase_collector_settle)->RangeMultiplier(10)->Range(1, 10000);

class trivial_writer final : public vss::writer {
 public:
  trivial_writer() : vss::writer({.name = "micro"}) {}
  void on_prepare_snapshot(vss::writer_context ctx) override { ctx.complete(); }
  void on_freeze(vss::writer_context ctx) override { ctx.complete(); }
  void on_thaw(vss::writer_context ctx) override { ctx.complete(); }
  void on_abort(vss::writer_context ctx) override { ctx.complete(); }
};

void BM_shard_emit_abort(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  vd::member_list members;
  for (std::uint32_t i = 0; i < n; ++i) {
    auto entry = std::make_shared<vd::writer_entry>();
    entry->w = std::make_shared<trivial_writer>();
    entry->registration = i + 1;
    members.push_back(vd::make_member(entry));
  }
  auto info = std::make_shared<vd::event_info>();
  info->event = vss::writer_event::abort;
  auto slots = std::make_shared<std::vector<std::uint32_t>>();
  for (std::uint32_t i = 0; i < n; ++i) slots->push_back(i);
  info->participant_of_slot = std::move(slots);
  std::int64_t fired = 0;
  for (auto _ : state) {
    auto collector =
        std::make_shared<vd::phase_collector>(vss::writer_event::abort, n, [&fired] { ++fired; });
    const vd::delivery d{collector, collector.get(), info.get()};  // `info` outlives the loop
    vd::deliver_to_shard(d, members, 0, static_cast<std::uint32_t>(n));
    collector->start();
  }
  if (fired != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("an abort delivery did not settle");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_shard_emit_abort)->RangeMultiplier(10)->Range(1, 10000);

void BM_state_machine_step(benchmark::State& state) {
  using c = vd::session_call;
  // A backup aborted during DoSnapshotSet, from InitializeForBackup to the cancelled snapshot.
  constexpr c path[] = {c::initialize_for_backup, c::set_backup_state,   c::gather_writer_metadata,
                        c::gather_metadata_done,  c::start_snapshot_set, c::add_to_snapshot_set,
                        c::prepare_for_backup,    c::prepare_done,       c::do_snapshot_set,
                        c::abort_backup,          c::snapshot_cancelled};
  vd::session_machine last;
  for (auto _ : state) {
    vd::session_machine m;
    for (const auto call : path) {
      const auto r = vd::step(m, call);
      benchmark::DoNotOptimize(r);
      m = r.next;
    }
    last = m;
  }
  if (last.state != vss::session_state::aborted) state.SkipWithError("path did not end aborted");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(std::size(path)));
}
BENCHMARK(BM_state_machine_step);

void BM_async_op_complete_query(benchmark::State& state) {
  std::error_code last;
  for (auto _ : state) {
    auto st = std::make_shared<vd::async_op_state>();
    vss::async_op op(st);
    vd::async_op_handler handler(std::move(st));
    handler(std::error_code{});
    last = op.query_status();
    benchmark::DoNotOptimize(last);
  }
  if (last != vss::errc::async_finished) state.SkipWithError("operation did not finish");
}
BENCHMARK(BM_async_op_complete_query);

void BM_async_op_query(benchmark::State& state) {
  auto st = std::make_shared<vd::async_op_state>();
  vss::async_op op(st);
  vd::async_op_handler handler(st);
  handler(std::error_code{});
  for (auto _ : state) {
    auto s = op.query_status();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_async_op_query);

// The steps of one set, each answered inline. K other sets (one snapshot each, committed, as
// concurrent sessions or snapshots kept from earlier backups leave them) share the provider:
// the cost of a set should not grow with K.
void BM_memory_provider_set(benchmark::State& state) {
  vss::memory_provider provider;
  std::error_code failed;
  const auto check = [&](std::error_code ec) {
    if (ec) failed = ec;
  };
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    const auto other = vss::snapshot_set_id::generate();
    (void)provider.begin_prepare_snapshot(other, vss::snapshot_id::generate(), "/other", 0);
    provider.end_prepare_snapshots(other, check);
    provider.pre_commit_snapshots(other, check);
    provider.commit_snapshots(other, check);
  }
  for (auto _ : state) {
    const auto set = vss::snapshot_set_id::generate();
    if (auto ec = provider.begin_prepare_snapshot(set, vss::snapshot_id::generate(), "/v", 0)) {
      failed = ec;
    }
    provider.end_prepare_snapshots(set, check);
    provider.pre_commit_snapshots(set, check);
    provider.commit_snapshots(set, check);
    provider.abort_snapshots(set, check);
  }
  if (failed) state.SkipWithError(failed.message().c_str());
  if (provider.all_records().size() != static_cast<std::size_t>(state.range(0))) {
    state.SkipWithError("an abort left records behind or took another set's");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_memory_provider_set)->RangeMultiplier(10)->Range(1, 10000);

// A chain through every line of range(0) KiB in a random order: each hop is one dependent load
// that the hardware cannot prefetch, so ns per hop is the latency of the level the set fits in.
// At the size of one M = 1,000 burst's state (~22 MB) it is the latency of memory
// (docs/decisions.md §37).
void BM_memory_latency(benchmark::State& state) {
  const vss::bench::random_chain chain(static_cast<std::size_t>(state.range(0)) * 1024);
  const vss::bench::chain_line* p = chain.first();
  for (auto _ : state) {
    p = vss::bench::follow(p, 1024);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  state.counters["ns_per_hop"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 1024,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_memory_latency)
    ->Arg(256)
    ->Arg(2 << 10)
    ->Arg(4 << 10)
    ->Arg(6 << 10)
    ->Arg(8 << 10)
    ->Arg(12 << 10)
    ->Arg(32 << 10)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
