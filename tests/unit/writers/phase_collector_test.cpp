// detail::phase_collector: the per-event answer collector. The first answer per slot wins,
// duplicates and late answers are ignored, on_settled runs exactly once (only after start()),
// abandon() settles what is pending (supersede() marks it so in O(1)), and payloads (failure
// messages, Identify metadata) stay with the answer that won. The last tests settle slots
// from many threads at once.

#include "writers/phase_collector.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vss/writer.hpp"

namespace vss::detail {
namespace {

/// A collector whose on_settled counts its calls.
struct counted {
  explicit counted(std::size_t slots, writer_event e = writer_event::freeze)
      : collector(std::make_shared<phase_collector>(e, slots, [this] { ++settled; })) {}
  std::atomic<int> settled{0};
  std::shared_ptr<phase_collector> collector;
};

TEST(PhaseCollector, KnowsItsEventAndSize) {
  counted c(3, writer_event::thaw);
  EXPECT_EQ(c.collector->event(), writer_event::thaw);
  EXPECT_EQ(c.collector->size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(c.collector->is_pending(i));
  EXPECT_FALSE(c.collector->abandoned());
}

TEST(PhaseCollector, FirstAnswerWinsAndLaterOnesAreIgnored) {
  counted c(2);
  c.collector->start();
  EXPECT_TRUE(c.collector->settle(0, slot_outcome::completed));
  EXPECT_FALSE(c.collector->settle(0, slot_outcome::failed, errc::writer_error_retryable, "no"));
  EXPECT_FALSE(c.collector->settle(0, slot_outcome::timed_out, errc::writer_not_responding));
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.collector->code(0), errc::ok);
  EXPECT_EQ(c.collector->message(0), "");
  EXPECT_FALSE(c.collector->is_pending(0));
  EXPECT_TRUE(c.collector->is_pending(1));
  EXPECT_EQ(c.settled, 0);
}

TEST(PhaseCollector, CodesBelongToTheSlotsThatFailedAndEveryOtherSlotReadsOk) {
  // Code storage is made by the first answer that is not ok; before it, and for every other
  // slot after it, code() reads ok.
  counted c(4);
  c.collector->start();
  EXPECT_EQ(c.collector->code(2), errc::ok);  // nothing failed yet: no codes stored
  EXPECT_TRUE(c.collector->settle(0, slot_outcome::completed));
  EXPECT_TRUE(c.collector->settle(2, slot_outcome::failed, errc::writer_error_retryable));
  EXPECT_TRUE(c.collector->settle(1, slot_outcome::timed_out, errc::writer_not_responding));
  EXPECT_EQ(c.collector->code(0), errc::ok);
  EXPECT_EQ(c.collector->code(1), errc::writer_not_responding);
  EXPECT_EQ(c.collector->code(2), errc::writer_error_retryable);
  EXPECT_EQ(c.collector->code(3), errc::ok);   // still pending
  EXPECT_EQ(c.collector->code(99), errc::ok);  // no such slot
}

TEST(PhaseCollector, AFailureThatWinsKeepsItsCodeAndMessage) {
  counted c(1);
  c.collector->start();
  EXPECT_TRUE(
      c.collector->settle(0, slot_outcome::failed, errc::writer_error_retryable, "disk full"));
  EXPECT_FALSE(c.collector->settle(0, slot_outcome::completed));
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::failed);
  EXPECT_EQ(c.collector->code(0), errc::writer_error_retryable);
  EXPECT_EQ(c.collector->message(0), "disk full");
}

TEST(PhaseCollector, ALosingAnswersPayloadIsDiscarded) {
  counted c(1, writer_event::identify);
  c.collector->start();
  ASSERT_TRUE(c.collector->settle(0, slot_outcome::completed));
  auto late = std::make_unique<writer_metadata>();
  late->excludes.push_back("/late");
  EXPECT_FALSE(c.collector->settle(0, slot_outcome::failed, errc::writer_error_nonretryable,
                                   "late message", std::move(late)));
  EXPECT_EQ(c.collector->message(0), "");
  EXPECT_EQ(c.collector->take_metadata(0), nullptr);
}

TEST(PhaseCollector, OutOfRangeSlotIsRejected) {
  counted c(2);
  c.collector->start();
  EXPECT_FALSE(c.collector->settle(2, slot_outcome::completed));
  EXPECT_FALSE(c.collector->settle(1000, slot_outcome::completed));
  EXPECT_EQ(c.settled, 0);
  EXPECT_TRUE(c.collector->is_pending(0));
  EXPECT_TRUE(c.collector->is_pending(1));
}

TEST(PhaseCollector, OnSettledRunsOnceWhenTheLastSlotSettles) {
  counted c(3);
  c.collector->start();
  c.collector->settle(2, slot_outcome::completed);
  c.collector->settle(0, slot_outcome::failed, errc::writer_error_retryable);
  EXPECT_EQ(c.settled, 0);
  c.collector->settle(1, slot_outcome::timed_out, errc::writer_not_responding);
  EXPECT_EQ(c.settled, 1);
  c.collector->settle(1, slot_outcome::completed);
  c.collector->abandon();
  c.collector->settle_all_pending(slot_outcome::timed_out, errc::writer_not_responding);
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, OnSettledWaitsForStartEvenWhenEverySlotIsSettled) {
  counted c(2);
  c.collector->settle(0, slot_outcome::completed);
  c.collector->settle(1, slot_outcome::completed);
  EXPECT_EQ(c.settled, 0) << "settled before start(): the deliverer could still be adding";
  c.collector->start();
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, ZeroSlotsSettleOnStartExactlyOnce) {
  counted c(0);
  EXPECT_EQ(c.settled, 0);
  c.collector->start();
  EXPECT_EQ(c.settled, 1);
  EXPECT_FALSE(c.collector->settle(0, slot_outcome::completed));
  c.collector->abandon();
  c.collector->settle_all_pending(slot_outcome::timed_out, errc::writer_not_responding);
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, OnSettledRunsOnTheThreadThatSettledLast) {
  std::thread::id ran_on;
  auto collector = std::make_shared<phase_collector>(writer_event::freeze, 1,
                                                     [&] { ran_on = std::this_thread::get_id(); });
  collector->start();
  std::thread t([&] { collector->settle(0, slot_outcome::completed); });
  const auto settler = t.get_id();
  t.join();
  EXPECT_EQ(ran_on, settler);
}

TEST(PhaseCollector, OnSettledIsReleasedAfterItRuns) {
  // The callback may capture the session; holding it past settlement would keep it alive.
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> weak = token;
  auto collector =
      std::make_shared<phase_collector>(writer_event::thaw, 1, [t = std::move(token)] { ++*t; });
  collector->start();
  EXPECT_FALSE(weak.expired());
  collector->settle(0, slot_outcome::completed);
  EXPECT_TRUE(weak.expired());
}

TEST(PhaseCollector, AbandonSettlesPendingSlotsAsAbandonedAndKeepsAnswers) {
  counted c(3);
  c.collector->start();
  c.collector->settle(1, slot_outcome::failed, errc::writer_error_timeout, "slow");
  c.collector->abandon();
  EXPECT_TRUE(c.collector->abandoned());
  EXPECT_EQ(c.settled, 1);
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::abandoned);
  EXPECT_EQ(c.collector->outcome(1), slot_outcome::failed);
  EXPECT_EQ(c.collector->outcome(2), slot_outcome::abandoned);
  EXPECT_EQ(c.collector->code(0), errc::ok);
  EXPECT_EQ(c.collector->code(1), errc::writer_error_timeout);
  EXPECT_EQ(c.collector->message(1), "slow");
  // An answer arriving after the abort is ignored.
  EXPECT_FALSE(c.collector->settle(0, slot_outcome::completed));
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::abandoned);
}

TEST(PhaseCollector, ACancelledOnSettledNeverRunsButTheSlotsStillSettle) {
  counted c(3);
  c.collector->start();
  c.collector->settle(0, slot_outcome::completed);
  c.collector->cancel_on_settled();
  c.collector->settle(1, slot_outcome::failed, errc::writer_error_retryable);
  c.collector->abandon();
  EXPECT_EQ(c.settled, 0);
  EXPECT_TRUE(c.collector->settled());  // nothing left to run
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.collector->outcome(1), slot_outcome::failed);
  EXPECT_EQ(c.collector->outcome(2), slot_outcome::abandoned);
}

TEST(PhaseCollector, CancellingOnSettledAfterItRanChangesNothing) {
  counted c(1);
  c.collector->start();
  c.collector->settle(0, slot_outcome::completed);
  ASSERT_EQ(c.settled, 1);
  c.collector->cancel_on_settled();
  c.collector->abandon();
  EXPECT_EQ(c.settled, 1);
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
}

TEST(PhaseCollector, ScansFindTheOneOpenSlotWhateverItsPlaceAndTheSize) {
  // The scans (settle_if_all_final, abandon) must find the one slot left open wherever it
  // is, whatever the size.
  for (std::uint32_t size = 1; size <= 19; ++size) {
    for (std::uint32_t open = 0; open < size; ++open) {
      counted c(size);
      c.collector->start();
      for (std::uint32_t s = 0; s < size; ++s) {
        if (s != open)
          c.collector->settle(s, s % 2 ? slot_outcome::completed : slot_outcome::failed);
      }
      c.collector->settle_if_all_final();
      ASSERT_EQ(c.settled, 0) << "size " << size << " open " << open;
      c.collector->abandon();
      ASSERT_EQ(c.settled, 1) << "size " << size << " open " << open;
      for (std::uint32_t s = 0; s < size; ++s) {
        const auto want = s == open ? slot_outcome::abandoned
                          : s % 2   ? slot_outcome::completed
                                    : slot_outcome::failed;
        ASSERT_EQ(c.collector->outcome(s), want) << "size " << size << " slot " << s;
      }
    }
  }
}

TEST(PhaseCollector, SupersedeRefusesLaterAnswersAndReadsPendingSlotsAsAbandoned) {
  counted c(4);
  c.collector->start();
  c.collector->settle(0, slot_outcome::completed);
  c.collector->settle(1, slot_outcome::failed, errc::writer_error_retryable, "busy");
  c.collector->supersede();
  EXPECT_TRUE(c.collector->abandoned());
  EXPECT_TRUE(c.collector->settled()) << "nothing left to run";
  // Answers after it are refused, with or without a payload.
  EXPECT_FALSE(c.collector->settle(2, slot_outcome::completed));
  EXPECT_FALSE(c.collector->settle(3, slot_outcome::failed, errc::writer_error_timeout, "late"));
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.collector->outcome(1), slot_outcome::failed);
  EXPECT_EQ(c.collector->code(1), errc::writer_error_retryable);
  EXPECT_EQ(c.collector->message(1), "busy");
  EXPECT_EQ(c.collector->outcome(2), slot_outcome::abandoned);
  EXPECT_EQ(c.collector->outcome(3), slot_outcome::abandoned);
  EXPECT_FALSE(c.collector->is_pending(2));
  EXPECT_EQ(c.collector->code(3), errc::ok);
  EXPECT_EQ(c.collector->message(3), "");
  c.collector->settle_if_all_final();  // every slot reads final: still nothing to run
  EXPECT_EQ(c.settled, 0);
}

TEST(PhaseCollector, ABatchOpenWhenItsPhaseIsSupersededReleasesWithoutFiring) {
  counted c(3);
  c.collector->start();
  {
    phase_collector::inline_batch batch(*c.collector);
    EXPECT_TRUE(c.collector->settle(0, slot_outcome::completed));
    c.collector->supersede();  // the abort comes while the shard's loop is half-way
    EXPECT_FALSE(c.collector->settle(1, slot_outcome::completed));
    EXPECT_FALSE(c.collector->settle(2, slot_outcome::completed));
  }
  EXPECT_EQ(c.settled, 0);
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.collector->outcome(1), slot_outcome::abandoned);
  EXPECT_EQ(c.collector->outcome(2), slot_outcome::abandoned);
}

TEST(PhaseCollector, AWriterContextSeesTheSupersessionAndItsDropRecordsNothing) {
  counted c(2);
  c.collector->start();
  auto info = std::make_shared<event_info>();
  info->event = writer_event::freeze;
  {
    writer_context held(c.collector, c.collector.get(), 0, info.get(), false);
    writer_context late(c.collector, c.collector.get(), 1, info.get(), false);
    EXPECT_FALSE(held.abandoned());
    c.collector->supersede();
    EXPECT_TRUE(held.abandoned());
    late.complete();  // refused
  }                   // `held` is dropped unanswered: no failure is recorded for a superseded slot
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::abandoned);
  EXPECT_EQ(c.collector->outcome(1), slot_outcome::abandoned);
  EXPECT_EQ(c.collector->message(0), "");
  EXPECT_EQ(c.settled, 0);
}

TEST(PhaseCollector, AbandonBeforeStartSettlesOnStart) {
  counted c(2);
  c.collector->abandon();
  EXPECT_EQ(c.settled, 0);
  EXPECT_TRUE(c.collector->abandoned());
  c.collector->start();
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, AbandonAfterSettlementStillMarksItAbandoned) {
  counted c(1);
  c.collector->start();
  c.collector->settle(0, slot_outcome::completed);
  c.collector->abandon();
  EXPECT_TRUE(c.collector->abandoned());
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, SettleAllPendingGivesEachPendingSlotTheOutcomeAndCode) {
  counted c(3);
  c.collector->start();
  c.collector->settle(0, slot_outcome::completed);
  c.collector->settle_all_pending(slot_outcome::timed_out, errc::writer_not_responding);
  EXPECT_EQ(c.settled, 1);
  EXPECT_FALSE(c.collector->abandoned());
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.collector->code(0), errc::ok);
  for (std::uint32_t i = 1; i < 3; ++i) {
    EXPECT_EQ(c.collector->outcome(i), slot_outcome::timed_out);
    EXPECT_EQ(c.collector->code(i), errc::writer_not_responding);
  }
}

TEST(PhaseCollector, MessagesStayWithTheirSlots) {
  counted c(3);
  c.collector->start();
  c.collector->settle(2, slot_outcome::failed, errc::writer_error_retryable, "two");
  c.collector->settle(0, slot_outcome::failed, errc::writer_error_nonretryable, "zero");
  c.collector->settle(1, slot_outcome::completed);
  EXPECT_EQ(c.collector->message(0), "zero");
  EXPECT_EQ(c.collector->message(1), "");
  EXPECT_EQ(c.collector->message(2), "two");
  EXPECT_EQ(c.collector->message(0), "zero") << "reading a message must not consume it";
}

TEST(PhaseCollector, MetadataIsTakenOnceAndOnlyFromItsSlot) {
  counted c(2, writer_event::identify);
  c.collector->start();
  auto md = std::make_unique<writer_metadata>();
  md->identity.name = "db";
  md->components.push_back({component_type::database, "", "main", "", true, {}, {}});
  ASSERT_TRUE(c.collector->settle(1, slot_outcome::completed, errc::ok, {}, std::move(md)));
  c.collector->settle(0, slot_outcome::completed);
  EXPECT_EQ(c.collector->take_metadata(0), nullptr);
  auto taken = c.collector->take_metadata(1);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->identity.name, "db");
  ASSERT_EQ(taken->components.size(), 1u);
  EXPECT_EQ(taken->components[0].name, "main");
  EXPECT_EQ(c.collector->take_metadata(1), nullptr) << "metadata handed out twice";
}

TEST(PhaseCollector, WriterContextCompleteSettlesItsSlot) {
  counted c(2);
  c.collector->start();
  auto info = std::make_shared<event_info>();
  info->event = writer_event::freeze;
  {
    writer_context ok(c.collector, c.collector.get(), 0, info.get(), false);
    writer_context veto(c.collector, c.collector.get(), 1, info.get(), false);
    EXPECT_EQ(ok.event(), writer_event::freeze);
    EXPECT_FALSE(ok.abandoned());
    ok.complete();
    EXPECT_TRUE(ok.done());
    EXPECT_TRUE(ok.abandoned()) << "no longer awaited once answered";
    EXPECT_EQ(veto.fail(errc::bad_state), errc::invalid_arg);  // not a writer failure code
    EXPECT_FALSE(veto.done());
    EXPECT_FALSE(veto.fail(errc::writer_error_retryable, "busy"));
    veto.complete();  // ignored: the failure was first
  }
  EXPECT_EQ(c.settled, 1);
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::completed);
  EXPECT_EQ(c.collector->outcome(1), slot_outcome::failed);
  EXPECT_EQ(c.collector->code(1), errc::writer_error_retryable);
  EXPECT_EQ(c.collector->message(1), "busy");
}

TEST(PhaseCollector, ADroppedWriterContextSettlesItsSlotAsFailed) {
  counted c(1);
  c.collector->start();
  auto info = std::make_shared<event_info>();
  info->event = writer_event::thaw;
  { writer_context forgotten(c.collector, c.collector.get(), 0, info.get(), false); }
  EXPECT_EQ(c.settled, 1);
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::failed);
  EXPECT_EQ(c.collector->code(0), errc::writer_error_nonretryable);
  EXPECT_NE(c.collector->message(0), "");
}

TEST(PhaseCollector, AWriterContextSeesTheAbandonment) {
  counted c(1);
  c.collector->start();
  auto info = std::make_shared<event_info>();
  info->event = writer_event::prepare_snapshot;
  writer_context ctx(c.collector, c.collector.get(), 0, info.get(), false);
  EXPECT_FALSE(ctx.abandoned());
  c.collector->abandon();
  EXPECT_TRUE(ctx.abandoned());
  ctx.complete();  // late: ignored
  EXPECT_EQ(c.collector->outcome(0), slot_outcome::abandoned);
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, ABorrowedContextKeepsItsDeliveryAliveOnceMoved) {
  counted c(1);
  c.collector->start();
  std::weak_ptr<phase_collector> weak = c.collector;
  auto info = std::make_shared<event_info>();
  info->event = writer_event::freeze;
  writer_context kept;
  bool lent_was_emptied = false;
  {
    // What the delivery loop does: the owner lives for the handler call only.
    phase_collector* raw = c.collector.get();
    std::shared_ptr<const void> owner = std::move(c.collector);
    writer_context lent(owner, raw, 0, info.get(), true);
    kept = std::move(lent);  // the writer keeps its context beyond the handler
    lent_was_emptied = lent.abandoned() && lent.done();
  }
  EXPECT_FALSE(weak.expired()) << "the moved context must own its collector";
  EXPECT_TRUE(lent_was_emptied) << "a moved-from context must not keep pointers into the delivery";
  EXPECT_EQ(kept.event(), writer_event::freeze);
  kept.complete();
  EXPECT_EQ(c.settled, 1);
  kept = writer_context{};
  EXPECT_TRUE(weak.expired());
}

// ---------------------------------------------------------------------------------------------
// Real threads (run under ThreadSanitizer in CI).

TEST(PhaseCollector, AnswersInsideABatchAreReleasedWhenTheBatchEnds) {
  counted c(3);
  c.collector->start();
  {
    phase_collector::inline_batch batch(*c.collector);
    EXPECT_TRUE(c.collector->settle_completed(0));
    EXPECT_TRUE(c.collector->settle(1, slot_outcome::failed, errc::writer_error_retryable));
    EXPECT_TRUE(c.collector->settle_completed(2));
    EXPECT_EQ(c.settled, 0);  // counted in the batch, not yet released
  }
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, ABatchCountsOnlyItsOwnCollector) {
  counted mine(1);
  counted other(1);
  mine.collector->start();
  other.collector->start();
  phase_collector::inline_batch batch(*mine.collector);
  EXPECT_TRUE(other.collector->settle_completed(0));
  EXPECT_EQ(other.settled, 1);  // another collector's answer is released at once
  EXPECT_TRUE(mine.collector->settle_completed(0));
  EXPECT_EQ(mine.settled, 0);
}

TEST(PhaseCollector, NestedBatchesRestoreTheOuterOne) {
  counted outer(2);
  counted inner(1);
  outer.collector->start();
  inner.collector->start();
  {
    phase_collector::inline_batch a(*outer.collector);
    {
      phase_collector::inline_batch b(*inner.collector);
      EXPECT_TRUE(inner.collector->settle_completed(0));
      EXPECT_TRUE(outer.collector->settle_completed(0));  // not b's: released at once
    }
    EXPECT_EQ(inner.settled, 1);
    EXPECT_TRUE(outer.collector->settle_completed(1));  // a's again
    EXPECT_EQ(outer.settled, 0);
  }
  EXPECT_EQ(outer.settled, 1);
}

TEST(PhaseCollector, AnOpenBatchDoesNotHoldAPhaseWhoseSlotsAreAllSettled) {
  // A handler blocked inside a shard's loop keeps that loop's batch open. Its phase must still
  // end at the deadline: the deadline path settles the rest and then looks at the slots.
  counted c(3);
  c.collector->start();
  std::atomic<bool> answered{false};
  std::atomic<bool> release{false};
  std::thread shard([&] {
    phase_collector::inline_batch batch(*c.collector);
    c.collector->settle_completed(0);  // answered inline, counted in the open batch
    answered = true;
    while (!release) std::this_thread::yield();  // slot 1's handler "blocks" here
  });
  while (!answered) std::this_thread::yield();
  c.collector->settle(1, slot_outcome::timed_out, errc::writer_not_responding);
  c.collector->settle(2, slot_outcome::timed_out, errc::writer_not_responding);
  EXPECT_EQ(c.settled, 0);  // the count still waits for the batch
  c.collector->settle_if_all_final();
  EXPECT_EQ(c.settled, 1);
  release = true;
  shard.join();  // the batch's late release must not settle it a second time
  EXPECT_EQ(c.settled, 1);
}

TEST(PhaseCollector, SettleIfAllFinalWaitsForPendingSlotsAndForStart) {
  counted c(2);
  c.collector->settle_completed(0);
  c.collector->settle_completed(1);
  c.collector->settle_if_all_final();
  EXPECT_EQ(c.settled, 0);  // not started
  counted d(2);
  d.collector->start();
  d.collector->settle_completed(0);
  d.collector->settle_if_all_final();
  EXPECT_EQ(d.settled, 0);  // slot 1 pending
  d.collector->settle_completed(1);
  EXPECT_EQ(d.settled, 1);
  d.collector->settle_if_all_final();
  EXPECT_EQ(d.settled, 1);
}

/// Each slot's payload encodes the thread that answered, so the reader can check that it sees
/// the winner's whole answer (outcome, code and message) and nothing torn.
errc code_of(int thread) {
  return thread % 2 == 0 ? errc::writer_error_retryable : errc::writer_error_nonretryable;
}

TEST(PhaseCollectorThreads, ManyThreadsSettlingDifferentSlotsSettleOnceWithEveryPayload) {
  constexpr int threads = 8;
  constexpr std::uint32_t per_thread = 512;
  constexpr std::uint32_t slots = threads * per_thread;
  std::atomic<int> settled{0};
  std::vector<slot_outcome> seen_outcome(slots);
  std::vector<errc> seen_code(slots);
  std::vector<std::string> seen_message(slots);
  std::shared_ptr<phase_collector> collector;
  // The callback reads every slot on whichever thread settled last: the reads race with
  // nothing only if the collector publishes each payload before its decrement.
  collector = std::make_shared<phase_collector>(writer_event::freeze, slots, [&] {
    ++settled;
    for (std::uint32_t s = 0; s < slots; ++s) {
      seen_outcome[s] = collector->outcome(s);
      seen_code[s] = collector->code(s);
      seen_message[s] = collector->message(s);
    }
  });
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::uint32_t i = 0; i < per_thread; ++i) {
        const std::uint32_t slot = i * threads + static_cast<std::uint32_t>(k);
        if (slot % 3 == 0) {
          collector->settle(slot, slot_outcome::completed);
        } else {
          collector->settle(slot, slot_outcome::failed, code_of(k), "t" + std::to_string(k));
        }
      }
    });
  }
  go.store(true, std::memory_order_release);
  collector->start();  // races with the settling threads
  for (auto& t : pool) t.join();
  ASSERT_EQ(settled, 1);
  for (std::uint32_t s = 0; s < slots; ++s) {
    const int k = static_cast<int>(s % threads);
    if (s % 3 == 0) {
      EXPECT_EQ(seen_outcome[s], slot_outcome::completed) << s;
      EXPECT_EQ(seen_code[s], errc::ok) << s;
      EXPECT_EQ(seen_message[s], "") << s;
    } else {
      EXPECT_EQ(seen_outcome[s], slot_outcome::failed) << s;
      EXPECT_EQ(seen_code[s], code_of(k)) << s;
      EXPECT_EQ(seen_message[s], "t" + std::to_string(k)) << s;
    }
  }
}

/// Threads racing on one collector from a common start: `threads` answerers that each answer
/// every slot, in an order of their own (so every slot gets a duplicate from each), plus any
/// other threads a test adds. Records which answerer won each slot.
struct answer_race {
  answer_race(writer_event e, int answerers, std::uint32_t size)
      : threads(answerers),
        slots(size),
        collector(std::make_shared<phase_collector>(e, size, [this] { ++settled; })),
        wins(size),
        won_by(answerers, std::vector<std::uint8_t>(size, 0)) {}

  /// Adds a thread that runs `fn` once the race starts.
  template <class Fn>
  void add(Fn fn) {
    pool.emplace_back([this, fn] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn();
    });
  }
  /// Adds the answerers; answer(k, slot) gives answerer k's answer and says if it won.
  template <class Answer>
  void add_answerers(bool batched, Answer answer) {
    for (int k = 0; k < threads; ++k) {
      add([this, k, batched, answer] {
        std::optional<phase_collector::inline_batch> batch;  // as a shard's loop counts them
        if (batched) batch.emplace(*collector);
        for (std::uint32_t i = 0; i < slots; ++i) {
          const std::uint32_t slot = (i * 7 + static_cast<std::uint32_t>(k) * 311) % slots;
          if (answer(k, slot)) {
            ++wins[slot];
            won_by[k][slot] = 1;
          }
        }
      });
    }
  }
  void run() {
    go.store(true, std::memory_order_release);
    collector->start();
    for (auto& t : pool) t.join();
  }
  int winner(std::uint32_t slot) const {
    for (int k = 0; k < threads; ++k) {
      if (won_by[k][slot]) return k;
    }
    return -1;
  }
  /// A failure answer of answerer k, as the answerers give it.
  bool fail(int k, std::uint32_t slot) {
    return collector->settle(slot, slot_outcome::failed, code_of(k), "t" + std::to_string(k));
  }
  /// The slot holds the failure its winner gave.
  void expect_failure_of_winner(std::uint32_t slot, int round) const {
    const int k = winner(slot);
    ASSERT_GE(k, 0) << "slot " << slot << " round " << round;
    ASSERT_EQ(collector->outcome(slot), slot_outcome::failed) << "slot " << slot;
    ASSERT_EQ(collector->code(slot), code_of(k)) << "slot " << slot;
    ASSERT_EQ(collector->message(slot), "t" + std::to_string(k)) << "slot " << slot;
  }

  const int threads;
  const std::uint32_t slots;
  std::atomic<int> settled{0};
  std::shared_ptr<phase_collector> collector;
  std::vector<std::atomic<int>> wins;
  std::vector<std::vector<std::uint8_t>> won_by;
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
};

TEST(PhaseCollectorThreads, RacingAnswersAndAnAbandonSettleEachSlotExactlyOnce) {
  for (int round = 0; round < 20; ++round) {
    answer_race race(writer_event::thaw, 6, 2048);
    // Every answer is a failure with its thread's payload; one extra thread abandons half-way.
    race.add_answerers(false, [&](int k, std::uint32_t slot) { return race.fail(k, slot); });
    race.add([&] {
      std::this_thread::yield();
      race.collector->abandon();
    });
    race.run();
    ASSERT_EQ(race.settled, 1) << "round " << round;
    ASSERT_TRUE(race.collector->abandoned());
    for (std::uint32_t s = 0; s < race.slots; ++s) {
      ASSERT_LE(race.wins[s].load(), 1) << "slot " << s << " settled twice, round " << round;
      if (race.wins[s] == 0) {
        ASSERT_EQ(race.collector->outcome(s), slot_outcome::abandoned)
            << "slot " << s << " round " << round;
      } else {
        ASSERT_NO_FATAL_FAILURE(race.expect_failure_of_winner(s, round));
      }
    }
  }
}

TEST(PhaseCollectorThreads, AnswersRacingASupersedeEachLandOnceOrReadAbandoned) {
  // Whatever the interleaving: a slot is answered at most once; one whose answer was refused
  // (or never came) reads abandoned, and a slot once read as abandoned is never answered; an
  // answer that won keeps its payload; and the superseded phase runs on_settled only if it
  // had settled before the supersede.
  for (int round = 0; round < 20; ++round) {
    answer_race race(writer_event::freeze, 4, 2048);
    auto& collector = *race.collector;
    // Even threads complete, odd ones fail with a payload; batched, as a shard's loop does.
    race.add_answerers(true, [&](int k, std::uint32_t slot) {
      return k % 2 == 0 ? collector.settle(slot, slot_outcome::completed) : race.fail(k, slot);
    });
    race.add([&] {
      std::this_thread::yield();
      collector.supersede();
    });
    // A reader that looks at every slot as soon as the phase is superseded, while answers may
    // still be racing: what it reads as abandoned must stay abandoned.
    std::vector<std::uint8_t> read_abandoned(race.slots, 0);
    race.add([&] {
      while (!collector.abandoned()) std::this_thread::yield();
      for (std::uint32_t s = 0; s < race.slots; ++s) {
        if (collector.outcome(s) == slot_outcome::abandoned) read_abandoned[s] = 1;
      }
    });
    race.run();
    ASSERT_TRUE(collector.abandoned());
    std::uint32_t answered = 0;
    for (std::uint32_t s = 0; s < race.slots; ++s) {
      ASSERT_LE(race.wins[s].load(), 1) << "slot " << s << " settled twice, round " << round;
      answered += static_cast<std::uint32_t>(race.wins[s].load());
      if (race.wins[s] == 0) {
        ASSERT_EQ(collector.outcome(s), slot_outcome::abandoned)
            << "slot " << s << " round " << round;
        continue;
      }
      ASSERT_EQ(read_abandoned[s], 0)
          << "slot " << s << " was read as abandoned, then answered; round " << round;
      if (race.winner(s) % 2 == 0) {
        ASSERT_EQ(collector.outcome(s), slot_outcome::completed)
            << "slot " << s << " round " << round;
      } else {
        ASSERT_NO_FATAL_FAILURE(race.expect_failure_of_winner(s, round));
      }
    }
    // supersede() itself never runs on_settled: it can only have run if every answer landed
    // (and was counted) before it.
    if (answered < race.slots) {
      ASSERT_EQ(race.settled, 0) << "round " << round;
    }
    ASSERT_LE(race.settled, 1) << "round " << round;
    // After it, nothing lands.
    ASSERT_FALSE(collector.settle(0, slot_outcome::completed));
  }
}

}  // namespace
}  // namespace vss::detail
