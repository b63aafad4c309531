// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0

#include "vss/mocks/fault_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;
using vss::errc;
using vss::writer_event;
using vss::mocks::abort_trigger;
using vss::mocks::fault;
using vss::mocks::fault_kind;
using vss::mocks::fault_plan;
using vss::mocks::provider_call;
using vss::mocks::selector_kind;
using vss::mocks::writer_selector;

// Parses `text`, failing the test (with the parser's message) if it is rejected.
fault_plan parsed(std::string_view text) {
  fault_plan::parse_result r = fault_plan::parse(text);
  EXPECT_TRUE(r) << r.error.message() << "\n  in: " << text;
  return r.plan.value_or(fault_plan{});
}

// The error for `text`, failing the test if it is accepted.
fault_plan::parse_error rejected(std::string_view text) {
  fault_plan::parse_result r = fault_plan::parse(text);
  EXPECT_FALSE(r) << "accepted: " << text << "\n  as: " << *r.plan;
  return r.error;
}

// The single writer rule of `text`.
vss::mocks::writer_rule only_writer_rule(std::string_view text) {
  const fault_plan p = parsed(text);
  EXPECT_EQ(p.writer_rules().size(), 1u) << text;
  return p.writer_rules().empty() ? vss::mocks::writer_rule{} : p.writer_rules().front();
}

constexpr std::string_view k_example =
    "writer[3].freeze=hang; writer[*].prepare_snapshot=veto(retryable)@0.1; "
    "provider.commit=delay(12s); abort@freeze+5ms";

// ---- parsing each statement form --------------------------------------------------------

TEST(FaultPlanParse, EmptyTextAndEmptyStatementsGiveTheEmptyPlan) {
  for (std::string_view text : {"", "   ", ";", " ; ;; ", "\n\t;\r\n"}) {
    const fault_plan p = parsed(text);
    EXPECT_TRUE(p.empty()) << '"' << text << '"';
    EXPECT_EQ(p, fault_plan{}) << '"' << text << '"';
  }
}

TEST(FaultPlanParse, WriterRuleWithAnIndexSelector) {
  const auto r = only_writer_rule("writer[3].freeze=hang");
  EXPECT_EQ(r.selector, writer_selector::index(3));
  EXPECT_EQ(r.event, writer_event::freeze);
  EXPECT_EQ(r.action, fault::hang());
  EXPECT_EQ(r.probability, 1.0);
}

TEST(FaultPlanParse, WriterRuleAcceptsEverySelectorForm) {
  EXPECT_EQ(only_writer_rule("writer[0].thaw=fail").selector, writer_selector::index(0));
  EXPECT_EQ(only_writer_rule("writer[*].thaw=fail").selector, writer_selector::all());
  EXPECT_EQ(only_writer_rule("writer[first].thaw=fail").selector, writer_selector::first());
  EXPECT_EQ(only_writer_rule("writer[last].thaw=fail").selector, writer_selector::last());
  EXPECT_EQ(only_writer_rule("writer[middle].thaw=fail").selector, writer_selector::middle());
  EXPECT_EQ(only_writer_rule("writer[2..5].thaw=fail").selector, writer_selector::range(2, 5));
  EXPECT_EQ(only_writer_rule("writer[4..4].thaw=fail").selector, writer_selector::range(4, 4));
  EXPECT_EQ(only_writer_rule("writer[\"db-orders\"].thaw=fail").selector,
            writer_selector::name("db-orders"));
}

TEST(FaultPlanParse, QuotedNamesUnderstandTheThreeEscapes) {
  EXPECT_EQ(only_writer_rule(R"(writer["a\"b\\c\x01\x7f;"].thaw=fail)").selector,
            writer_selector::name(std::string("a\"b\\c\x01\x7f;")));
  EXPECT_EQ(only_writer_rule("writer[\"caf\xC3\xA9 db\"].thaw=fail").selector,
            writer_selector::name("caf\xC3\xA9 db"));
}

TEST(FaultPlanParse, WriterRuleAcceptsEveryFault) {
  const std::vector<std::pair<std::string_view, fault>> cases = {
      {"succeed", fault::succeed()},
      {"veto(retryable)", fault::veto(errc::writer_error_retryable)},
      {"veto(nonretryable)", fault::veto(errc::writer_error_nonretryable)},
      {"veto(inconsistent_snapshot)", fault::veto(errc::writer_error_inconsistent_snapshot)},
      {"veto(out_of_resources)", fault::veto(errc::writer_error_out_of_resources)},
      {"veto(timeout)", fault::veto(errc::writer_error_timeout)},
      {"veto(VSS_E_PROVIDER_VETO)", fault::veto(errc::provider_veto)},
      {"fail", fault::fail_without_code()},
      {"hang", fault::hang()},
      {"hang_ignore_abort", fault::hang_ignore_abort()},
      {"delay(12s)", fault::delay(12s)},
      {"complete_twice", fault::complete_twice()},
      {"throw", fault::throw_exception()},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(only_writer_rule("writer[0].freeze=" + std::string(text)).action, expected) << text;
  }
}

TEST(FaultPlanParse, VetoCodesAcceptSymbolsAndEnumeratorNamesInAnyCase) {
  EXPECT_EQ(only_writer_rule("writer[0].freeze=veto(provider_veto)").action,
            fault::veto(errc::provider_veto));
  EXPECT_EQ(only_writer_rule("writer[0].freeze=veto(e_fail)").action, fault::veto(errc::fail));
  EXPECT_EQ(only_writer_rule("writer[0].freeze=veto(RETRYABLE)").action,
            fault::veto(errc::writer_error_retryable));
  EXPECT_EQ(only_writer_rule("writer[0].freeze=veto(VSS_E_WRITERERROR_TIMEOUT)").action,
            fault::veto(errc::writer_error_timeout));
}

TEST(FaultPlanParse, DurationsAcceptEveryUnit) {
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(7ns)").action, fault::delay(7ns));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(7us)").action, fault::delay(7us));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(7ms)").action, fault::delay(7ms));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(7s)").action, fault::delay(7s));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(7m)").action, fault::delay(7min));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(0s)").action, fault::delay(0s));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(9223372036854775807ns)").action,
            fault::delay(std::chrono::nanoseconds::max()));
  EXPECT_EQ(only_writer_rule("writer[0].thaw=delay(153722867m)").action,
            fault::delay(std::chrono::minutes(153722867)));  // the largest whole minute
}

TEST(FaultPlanParse, EveryWriterEventIsAcceptedInBothSpellings) {
  const std::vector<std::string_view> snake = {
      "identify",      "prepare_backup", "prepare_snapshot", "freeze",         "thaw",
      "post_snapshot", "abort",          "backup_complete",  "backup_shutdown"};
  ASSERT_EQ(snake.size(), vss::writer_event_count);
  for (std::size_t i = 0; i < snake.size(); ++i) {
    const auto e = static_cast<writer_event>(i);
    EXPECT_EQ(only_writer_rule("writer[0]." + std::string(snake[i]) + "=hang").event, e);
    EXPECT_EQ(only_writer_rule("writer[0]." + std::string(vss::to_string(e)) + "=hang").event, e);
  }
}

TEST(FaultPlanParse, ProviderRuleAcceptsEveryCall) {
  for (std::size_t i = 0; i < vss::mocks::provider_call_count; ++i) {
    const auto c = static_cast<provider_call>(i);
    const fault_plan p = parsed("provider." + std::string(to_string(c)) + "=throw");
    ASSERT_EQ(p.provider_rules().size(), 1u);
    EXPECT_EQ(p.provider_rules()[0].call, c);
    EXPECT_EQ(p.provider_rules()[0].action, fault::throw_exception());
    EXPECT_EQ(p.provider_rules()[0].probability, 1.0);
  }
}

TEST(FaultPlanParse, ProbabilityFormsAreDecimalNumbersInTheUnitInterval) {
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@0.1").probability, 0.1);
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@.25").probability, 0.25);
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@1").probability, 1.0);
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@1.000").probability, 1.0);
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@0").probability, 0.0);
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@0.").probability, 0.0);
  EXPECT_EQ(only_writer_rule("writer[0].thaw=hang@0." + std::string(400, '0') + "1").probability,
            0.0);  // below the smallest double: underflows to 0 instead of failing
  const fault_plan p = parsed("provider.commit=hang@0.75");
  ASSERT_EQ(p.provider_rules().size(), 1u);
  EXPECT_EQ(p.provider_rules()[0].probability, 0.75);
}

TEST(FaultPlanParse, AbortTriggerAtAWriterEvent) {
  const fault_plan p = parsed("abort@freeze");
  EXPECT_EQ(p.abort(), (abort_trigger{writer_event::freeze, 0ns}));
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(parsed("abort@PostSnapshot").abort(),
            (abort_trigger{writer_event::post_snapshot, 0ns}));
}

TEST(FaultPlanParse, AbortTriggerAtAProviderCallWithAnOffset) {
  EXPECT_EQ(parsed("abort@provider.commit+250us").abort(),
            (abort_trigger{provider_call::commit, 250us}));
  EXPECT_EQ(parsed("abort@provider.abort").abort(), (abort_trigger{provider_call::abort, 0ns}));
  // "abort" is both a writer event and a provider call; the prefix decides.
  EXPECT_EQ(parsed("abort@abort").abort(), (abort_trigger{writer_event::abort, 0ns}));
}

TEST(FaultPlanParse, SeedStatementSetsTheSeedAndTheLastOneCounts) {
  EXPECT_EQ(parsed("seed=42").seed(), 42u);
  EXPECT_EQ(parsed("seed=18446744073709551615").seed(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(parsed("seed=1; seed=7").seed(), 7u);
  EXPECT_EQ(parsed("").seed(), 0u);
  EXPECT_TRUE(parsed("seed=42").empty());  // a seed alone injects nothing
}

TEST(FaultPlanParse, WhitespaceIsAllowedBetweenAnyTwoTokens) {
  const fault_plan spaced = parsed(
      " \t writer [ 2 .. 5 ] . freeze = veto ( retryable ) @ 0.5 ;\n"
      " provider . commit = delay ( 3ms ) ; abort @ provider . commit + 5ms ; seed = 9 ; ");
  const fault_plan compact = parsed(
      "writer[2..5].freeze=veto(retryable)@0.5;provider.commit=delay(3ms);"
      "abort@provider.commit+5ms;seed=9");
  EXPECT_EQ(spaced, compact);
  EXPECT_EQ(compact.writer_rules().size(), 1u);
  EXPECT_EQ(compact.seed(), 9u);
}

TEST(FaultPlanParse, TheExampleFromTheDocumentationParses) {
  const fault_plan p = parsed(k_example);
  ASSERT_EQ(p.writer_rules().size(), 2u);
  EXPECT_EQ(p.writer_rules()[0],
            (vss::mocks::writer_rule{writer_selector::index(3), writer_event::freeze, fault::hang(),
                                     1.0}));
  EXPECT_EQ(p.writer_rules()[1],
            (vss::mocks::writer_rule{writer_selector::all(), writer_event::prepare_snapshot,
                                     fault::veto(errc::writer_error_retryable), 0.1}));
  ASSERT_EQ(p.provider_rules().size(), 1u);
  EXPECT_EQ(p.provider_rules()[0],
            (vss::mocks::provider_rule{provider_call::commit, fault::delay(12s), 1.0}));
  EXPECT_EQ(p.abort(), (abort_trigger{writer_event::freeze, 5ms}));
  EXPECT_EQ(p.seed(), 0u);
  EXPECT_EQ(p.to_string(), k_example);
}

TEST(FaultPlanParse, TheExampleEqualsTheSamePlanBuiltInCpp) {
  fault_plan built;
  built.writer(writer_selector::index(3), writer_event::freeze, fault::hang())
      .writer(writer_selector::all(), writer_event::prepare_snapshot,
              fault::veto(errc::writer_error_retryable), 0.1)
      .provider(provider_call::commit, fault::delay(12s))
      .abort_at(writer_event::freeze, 5ms);
  EXPECT_EQ(parsed(k_example), built);
  EXPECT_EQ(built.to_string(), k_example);
}

TEST(FaultPlanParse, TheBuilderExampleInTheHeaderPrintsWhatItPromises) {
  fault_plan plan;
  plan.seed(42)
      .writer(writer_selector::all(), writer_event::prepare_snapshot,
              fault::veto(errc::writer_error_retryable), 0.1)
      .writer(writer_selector::name("db-orders"), writer_event::prepare_snapshot,
              fault::veto(errc::writer_error_nonretryable))
      .abort_at(provider_call::commit, 3ms);
  EXPECT_EQ(plan.to_string(),
            "seed=42; writer[*].prepare_snapshot=veto(retryable)@0.1; "
            "writer[\"db-orders\"].prepare_snapshot=veto(nonretryable); "
            "abort@provider.commit+3ms");
  EXPECT_EQ(plan, fault_plan::parse(plan.to_string()).plan);
}

// ---- canonical text and round trips -----------------------------------------------------

TEST(FaultPlanText, CanonicalTextOrdersStatementsAndOmitsDefaults) {
  const fault_plan p = parsed(
      "abort@thaw+0s; provider.abort=fail@1.0; writer[ last ].thaw=delay(60000ms)@0.50; seed=0;"
      "writer[\"w\"].Freeze=veto(provider_veto); seed=5");
  EXPECT_EQ(
      p.to_string(),
      "seed=5; writer[last].thaw=delay(1m)@0.5; writer[\"w\"].freeze=veto(VSS_E_PROVIDER_VETO); "
      "provider.abort=fail; abort@thaw");
}

TEST(FaultPlanText, NamesAreEscapedSoTheyReadBackAndStayOnOneLine) {
  fault_plan p;
  p.writer(writer_selector::name(std::string("a\"b\\c\nd\x7f\x00;\xC3\xA9", 12)),
           writer_event::thaw, fault::hang());
  EXPECT_EQ(p.to_string(), "writer[\"a\\\"b\\\\c\\x0Ad\\x7F\\x00;\xC3\xA9\"].thaw=hang");
  EXPECT_EQ(parsed(p.to_string()), p);
}

TEST(FaultPlanText, ToStringParsesBackToAnEqualPlanForHandWrittenPlans) {
  const std::vector<std::string_view> texts = {
      "",
      "seed=1",
      std::string_view(k_example),
      "writer[0].identify=succeed",
      "writer[first].prepare_backup=veto(out_of_resources)@0.3333333333333333",
      "writer[middle].post_snapshot=complete_twice@0",
      "writer[0..18446744073709551615].backup_complete=hang_ignore_abort",
      "writer[\"x\"].backup_shutdown=throw; writer[\"x\"].backup_shutdown=succeed",
      "provider.begin_prepare=veto(E_OUTOFMEMORY); provider.delete=delay(1ns)@0.001",
      "abort@provider.pre_final_commit+9223372036854775807ns",
      "seed=18446744073709551615; abort@backup_shutdown+1m",
  };
  for (std::string_view text : texts) {
    const fault_plan p = parsed(text);
    const std::string canonical = p.to_string();
    EXPECT_EQ(parsed(canonical), p) << text << "\n  printed: " << canonical;
    EXPECT_EQ(parsed(canonical).to_string(), canonical) << text;
  }
}

fault random_fault(std::mt19937_64& rng) {
  static const std::vector<errc> errors = [] {
    std::vector<errc> v;
    for (errc c : vss::known_codes()) {
      if (!vss::succeeded(c)) v.push_back(c);
    }
    return v;
  }();
  switch (rng() % 8) {
    case 0:
      return fault::succeed();
    case 1:
      return fault::veto(errors[rng() % errors.size()]);
    case 2:
      return fault::fail_without_code();
    case 3:
      return fault::hang();
    case 4:
      return fault::hang_ignore_abort();
    case 5: {
      const std::int64_t units[] = {1, 1'000, 1'000'000, 1'000'000'000, 60'000'000'000};
      return fault::delay(
          std::chrono::nanoseconds(static_cast<std::int64_t>(rng() % 100'000) * units[rng() % 5]));
    }
    case 6:
      return fault::complete_twice();
    default:
      return fault::throw_exception();
  }
}

writer_selector random_selector(std::mt19937_64& rng) {
  switch (rng() % 7) {
    case 0:
      return writer_selector::index(rng() % 10);
    case 1:
      return writer_selector::all();
    case 2:
      return writer_selector::first();
    case 3:
      return writer_selector::last();
    case 4:
      return writer_selector::middle();
    case 5: {
      const std::size_t a = rng() % 10;
      return writer_selector::range(a, a + rng() % 10);
    }
    default: {
      std::string name(1 + rng() % 12, ' ');
      for (char& c : name) c = static_cast<char>(rng() % 256);  // any byte, escapes included
      return writer_selector::name(name);
    }
  }
}

double random_probability(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0:
      return 1.0;
    case 1:
      return 0.0;
    case 2:
      return std::numeric_limits<double>::denorm_min();
    case 3:
      return static_cast<double>(rng() % 1000) / 1000.0;
    default:
      return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }
}

fault_plan random_plan(std::mt19937_64& rng) {
  fault_plan p;
  if (rng() % 2) p.seed(rng());
  for (std::uint64_t n = rng() % 5; n > 0; --n) {
    p.writer(random_selector(rng), static_cast<writer_event>(rng() % vss::writer_event_count),
             random_fault(rng), random_probability(rng));
  }
  for (std::uint64_t n = rng() % 3; n > 0; --n) {
    p.provider(static_cast<provider_call>(rng() % vss::mocks::provider_call_count),
               random_fault(rng), random_probability(rng));
  }
  if (rng() % 2) {
    const auto offset = std::chrono::nanoseconds(static_cast<std::int64_t>(rng() % 5'000'000));
    if (rng() % 2) {
      p.abort_at(static_cast<writer_event>(rng() % vss::writer_event_count), offset);
    } else {
      p.abort_at(static_cast<provider_call>(rng() % vss::mocks::provider_call_count), offset);
    }
  }
  return p;
}

TEST(FaultPlanText, ToStringParsesBackToAnEqualPlanForRandomBuiltPlans) {
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 2000; ++i) {
    const fault_plan p = random_plan(rng);
    const std::string text = p.to_string();
    const fault_plan::parse_result r = fault_plan::parse(text);
    ASSERT_TRUE(r) << r.error.message() << "\n  in: " << text;
    ASSERT_EQ(*r.plan, p) << text;
    ASSERT_EQ(r.plan->to_string(), text);
  }
}

TEST(FaultPlanText, StreamOperatorWritesTheCanonicalText) {
  std::ostringstream os;
  os << parsed("writer[1].thaw=hang ;");
  EXPECT_EQ(os.str(), "writer[1].thaw=hang");
}

// ---- builder --------------------------------------------------------------------------------

TEST(FaultPlanBuilder, StoresFaultsNormalised) {
  fault_plan p;
  p.writer(writer_selector::all(), writer_event::thaw, fault{fault_kind::hang, errc::fail, 5s})
      .provider(provider_call::commit, fault{fault_kind::veto, errc::provider_veto, 5s})
      .provider(provider_call::commit, fault{fault_kind::delay, errc::fail, 5s});
  EXPECT_EQ(p.writer_rules()[0].action, fault::hang());
  EXPECT_EQ(p.provider_rules()[0].action, fault::veto(errc::provider_veto));
  EXPECT_EQ(p.provider_rules()[1].action, fault::delay(5s));
  EXPECT_EQ(parsed(p.to_string()), p);
}

TEST(FaultPlanBuilder, RejectsWhatTheTextFormCannotExpress) {
  fault_plan p;
  const auto all = writer_selector::all();
  const auto thaw = writer_event::thaw;
  EXPECT_THROW(p.writer(all, thaw, fault::hang(), 1.5), std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault::hang(), -0.1), std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault::hang(), std::nan("")), std::invalid_argument);
  EXPECT_THROW(p.provider(provider_call::commit, fault::hang(), 2.0), std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault::veto(errc::ok)), std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault::veto(errc::async_finished)), std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault::veto(static_cast<errc>(0x80042305u))),
               std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault::delay(-1ns)), std::invalid_argument);
  EXPECT_THROW(p.writer(all, thaw, fault{static_cast<fault_kind>(77), errc::ok, {}}),
               std::invalid_argument);
  EXPECT_THROW(p.writer(all, static_cast<writer_event>(9), fault::hang()), std::invalid_argument);
  EXPECT_THROW(p.provider(static_cast<provider_call>(9), fault::hang()), std::invalid_argument);
  EXPECT_THROW(p.abort_at(writer_event::freeze, -1ms), std::invalid_argument);
  EXPECT_THROW(p.abort_at(static_cast<writer_event>(9)), std::invalid_argument);
  EXPECT_THROW(writer_selector::range(5, 2), std::invalid_argument);
  EXPECT_THROW(writer_selector::name(""), std::invalid_argument);
  EXPECT_TRUE(p.empty());  // nothing was added by the rejected calls
  EXPECT_EQ(p, fault_plan{});
}

TEST(FaultPlanBuilder, NegativeZeroProbabilityIsStoredAsZero) {
  fault_plan p;
  p.writer(writer_selector::all(), writer_event::thaw, fault::hang(), -0.0);
  EXPECT_FALSE(std::signbit(p.writer_rules()[0].probability));
  EXPECT_EQ(p.to_string(), "writer[*].thaw=hang@0");
}

TEST(FaultPlanBuilder, AbortAtReplacesAnEarlierTrigger) {
  fault_plan p;
  p.abort_at(writer_event::freeze, 1ms).abort_at(provider_call::commit);
  EXPECT_EQ(p.abort(), (abort_trigger{provider_call::commit, 0ns}));
  EXPECT_EQ(p.to_string(), "abort@provider.commit");
}

TEST(FaultPlanBuilder, SelectorsReportTheirKindAndFields) {
  EXPECT_EQ(writer_selector::index(7).kind(), selector_kind::index);
  EXPECT_EQ(writer_selector::index(7).from(), 7u);
  EXPECT_EQ(writer_selector::index(7).to(), 7u);
  EXPECT_EQ(writer_selector::range(2, 9).from(), 2u);
  EXPECT_EQ(writer_selector::range(2, 9).to(), 9u);
  EXPECT_EQ(writer_selector::name("db").writer_name(), "db");
  EXPECT_EQ(writer_selector().kind(), selector_kind::all);
  EXPECT_EQ(writer_selector(), writer_selector::all());
  EXPECT_NE(writer_selector::index(0), writer_selector::first());
  EXPECT_EQ(to_string(writer_selector::range(2, 9)), "2..9");
}

// ---- queries --------------------------------------------------------------------------------

TEST(FaultPlanQuery, AWriterWithoutAMatchingRuleGetsNothing) {
  const fault_plan p = parsed("writer[1].freeze=hang");
  EXPECT_EQ(p.writer_fault(0, 3, "a", writer_event::freeze), std::nullopt);
  EXPECT_EQ(p.writer_fault(1, 3, "b", writer_event::thaw), std::nullopt);
  EXPECT_EQ(p.writer_fault(1, 3, "b", writer_event::freeze), fault::hang());
  EXPECT_EQ(fault_plan{}.writer_fault(0, 1, "a", writer_event::freeze), std::nullopt);
}

TEST(FaultPlanQuery, TheLastMatchingRuleWins) {
  const fault_plan p = parsed(
      "writer[*].freeze=hang; writer[1..2].freeze=veto(retryable); writer[2].freeze=succeed; "
      "writer[*].thaw=fail; writer[*].thaw=throw");
  EXPECT_EQ(p.writer_fault(0, 4, "w0", writer_event::freeze), fault::hang());
  EXPECT_EQ(p.writer_fault(1, 4, "w1", writer_event::freeze),
            fault::veto(errc::writer_error_retryable));
  EXPECT_EQ(p.writer_fault(2, 4, "w2", writer_event::freeze), fault::succeed());
  EXPECT_EQ(p.writer_fault(3, 4, "w3", writer_event::freeze), fault::hang());
  EXPECT_EQ(p.writer_fault(3, 4, "w3", writer_event::thaw), fault::throw_exception());
}

TEST(FaultPlanQuery, TheLastMatchingProviderRuleWins) {
  const fault_plan p =
      parsed("provider.commit=hang; provider.abort=fail; provider.commit=delay(2s)");
  EXPECT_EQ(p.provider_fault(provider_call::commit), fault::delay(2s));
  EXPECT_EQ(p.provider_fault(provider_call::abort), fault::fail_without_code());
  EXPECT_EQ(p.provider_fault(provider_call::pre_commit), std::nullopt);
}

// Which of `count` writers (named "w<i>") rule text `rule` selects at Freeze.
std::vector<std::size_t> selected(std::string_view selector, std::size_t count) {
  const fault_plan p = parsed("writer[" + std::string(selector) + "].freeze=hang");
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < count; ++i) {
    if (p.writer_fault(i, count, "w" + std::to_string(i), writer_event::freeze)) out.push_back(i);
  }
  return out;
}

using indexes = std::vector<std::size_t>;

TEST(FaultPlanSelector, StarSelectsEveryWriter) {
  EXPECT_EQ(selected("*", 4), (indexes{0, 1, 2, 3}));
  EXPECT_EQ(selected("*", 0), indexes{});
}

TEST(FaultPlanSelector, FirstLastAndMiddleFollowTheWriterCount) {
  EXPECT_EQ(selected("first", 5), indexes{0});
  EXPECT_EQ(selected("last", 5), indexes{4});
  EXPECT_EQ(selected("middle", 5), indexes{2});
  EXPECT_EQ(selected("middle", 4), indexes{2});
  EXPECT_EQ(selected("middle", 2), indexes{1});
  EXPECT_EQ(selected("first", 1), indexes{0});
  EXPECT_EQ(selected("last", 1), indexes{0});
  EXPECT_EQ(selected("middle", 1), indexes{0});
  EXPECT_EQ(selected("last", 0), indexes{});
}

TEST(FaultPlanSelector, AnIndexSelectsOneWriterAndNoneWhenOutOfRange) {
  EXPECT_EQ(selected("3", 5), indexes{3});
  EXPECT_EQ(selected("5", 5), indexes{});
}

TEST(FaultPlanSelector, ARangeIncludesBothEnds) {
  EXPECT_EQ(selected("2..4", 7), (indexes{2, 3, 4}));
  EXPECT_EQ(selected("5..9", 7), (indexes{5, 6}));
  EXPECT_EQ(selected("3..3", 7), indexes{3});
}

TEST(FaultPlanSelector, ANameSelectsEveryWriterWithThatExactName) {
  const fault_plan p = parsed("writer[\"db\"].freeze=hang");
  EXPECT_TRUE(p.writer_fault(0, 3, "db", writer_event::freeze));
  EXPECT_TRUE(p.writer_fault(2, 3, "db", writer_event::freeze));
  EXPECT_FALSE(p.writer_fault(1, 3, "DB", writer_event::freeze));
  EXPECT_FALSE(p.writer_fault(1, 3, "db ", writer_event::freeze));
  EXPECT_FALSE(p.writer_fault(3, 3, "db", writer_event::freeze));  // index out of range
}

TEST(FaultPlanSelector, MatchesIsTheSameTestTheQueriesUse) {
  EXPECT_TRUE(writer_selector::last().matches(9, 10, ""));
  EXPECT_FALSE(writer_selector::last().matches(8, 10, ""));
  EXPECT_FALSE(writer_selector::all().matches(10, 10, ""));
  EXPECT_TRUE(writer_selector::name("n").matches(0, 1, "n"));
}

// ---- probabilities --------------------------------------------------------------------------

std::vector<bool> vetoed(const fault_plan& p, std::size_t count, bool reverse = false) {
  std::vector<bool> out(count);
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t i = reverse ? count - 1 - k : k;
    out[i] = p.writer_fault(i, count, "w", writer_event::prepare_snapshot).has_value();
  }
  return out;
}

TEST(FaultPlanProbability, SameSeedGivesTheSameAnswersInAnyQueryOrder) {
  const fault_plan p = parsed("seed=7; writer[*].prepare_snapshot=veto(retryable)@0.5");
  const fault_plan again = parsed(p.to_string());
  const std::vector<bool> forward = vetoed(p, 1000);
  EXPECT_EQ(vetoed(p, 1000, /*reverse=*/true), forward);
  EXPECT_EQ(vetoed(again, 1000), forward);
  // Interleaved single queries (e.g. from the glue, writer by writer) agree too.
  for (std::size_t i : {999u, 0u, 500u, 1u, 998u}) {
    EXPECT_EQ(p.writer_fault(i, 1000, "w", writer_event::prepare_snapshot).has_value(), forward[i]);
  }
}

TEST(FaultPlanProbability, ADifferentSeedChangesSomeAnswers) {
  const fault_plan a = parsed("seed=1; writer[*].prepare_snapshot=veto(retryable)@0.5");
  const fault_plan b = parsed("seed=2; writer[*].prepare_snapshot=veto(retryable)@0.5");
  const std::vector<bool> va = vetoed(a, 1000);
  const std::vector<bool> vb = vetoed(b, 1000);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < va.size(); ++i) differ += va[i] != vb[i];
  // Independent draws at p = 0.5 differ for about half of the writers.
  EXPECT_GT(differ, 400u);
  EXPECT_LT(differ, 600u);
}

TEST(FaultPlanProbability, ATenPercentRuleAppliesToAboutTenPercentOfTheWriters) {
  for (std::uint64_t seed : {0u, 1u, 123456789u}) {
    fault_plan p;
    p.seed(seed).writer(writer_selector::all(), writer_event::prepare_snapshot,
                        fault::veto(errc::writer_error_retryable), 0.1);
    const std::vector<bool> v = vetoed(p, 10'000);
    const auto hits = std::count(v.begin(), v.end(), true);
    EXPECT_GE(hits, 800) << "seed " << seed;
    EXPECT_LE(hits, 1200) << "seed " << seed;
  }
}

TEST(FaultPlanProbability, ZeroNeverAppliesAndOneAlwaysApplies) {
  const fault_plan never = parsed("seed=3; writer[*].prepare_snapshot=hang@0");
  const fault_plan always = parsed("seed=3; writer[*].prepare_snapshot=hang@1");
  const std::vector<bool> n = vetoed(never, 2000);
  const std::vector<bool> a = vetoed(always, 2000);
  EXPECT_EQ(std::count(n.begin(), n.end(), true), 0);
  EXPECT_EQ(std::count(a.begin(), a.end(), true), 2000);
}

TEST(FaultPlanProbability, ARuleThatDoesNotApplyLetsEarlierRulesThrough) {
  const fault_plan p = parsed(
      "seed=11; writer[*].prepare_snapshot=hang; writer[*].prepare_snapshot=veto(retryable)@0.3");
  fault_plan only_veto;
  only_veto.seed(11)
      .writer(writer_selector::all(), writer_event::freeze, fault::fail_without_code())
      .writer(writer_selector::all(), writer_event::prepare_snapshot,
              fault::veto(errc::writer_error_retryable), 0.3);  // same rule index (1) and seed
  std::size_t hung = 0;
  std::size_t vetoes = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    const auto f = p.writer_fault(i, 1000, "w", writer_event::prepare_snapshot);
    ASSERT_TRUE(f);
    const bool veto_applies =
        only_veto.writer_fault(i, 1000, "w", writer_event::prepare_snapshot).has_value();
    EXPECT_EQ(*f, veto_applies ? fault::veto(errc::writer_error_retryable) : fault::hang()) << i;
    (veto_applies ? vetoes : hung) += 1;
  }
  EXPECT_GT(vetoes, 200u);
  EXPECT_GT(hung, 600u);
}

TEST(FaultPlanProbability, RulesAtDifferentIndexesDrawIndependently) {
  // Two identical probabilistic rules for different events: a shared draw would select the
  // same writers for both.
  const fault_plan p = parsed("writer[*].freeze=hang@0.5; writer[*].thaw=hang@0.5");
  std::size_t differ = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    differ += p.writer_fault(i, 1000, "w", writer_event::freeze).has_value() !=
              p.writer_fault(i, 1000, "w", writer_event::thaw).has_value();
  }
  EXPECT_GT(differ, 400u);
  EXPECT_LT(differ, 600u);
}

TEST(FaultPlanProbability, AProviderRuleIsDecidedOncePerPlanBySeed) {
  std::size_t applied = 0;
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    fault_plan p;
    p.seed(seed).provider(provider_call::commit, fault::hang(), 0.5);
    const bool first = p.provider_fault(provider_call::commit).has_value();
    EXPECT_EQ(p.provider_fault(provider_call::commit).has_value(), first);
    EXPECT_EQ(parsed(p.to_string()).provider_fault(provider_call::commit).has_value(), first);
    applied += first;
  }
  EXPECT_GT(applied, 400u);
  EXPECT_LT(applied, 600u);
}

// ---- errors ---------------------------------------------------------------------------------

struct bad_input {
  std::string text;
  std::size_t position;
  std::string_view expected;
  std::string found;
};

constexpr std::string_view k_fault_list =
    "a fault (succeed, veto(...), fail, hang, hang_ignore_abort, delay(...), complete_twice, "
    "throw)";
constexpr std::string_view k_code_list =
    "an error code (retryable, nonretryable, inconsistent_snapshot, out_of_resources, timeout, "
    "or a VSS error symbol such as VSS_E_PROVIDER_VETO)";

TEST(FaultPlanErrors, TheMessageNamesTheColumnWhatWasExpectedAndWhatWasFound) {
  const fault_plan::parse_error e = rejected("writer[3].freeze=hangg");
  EXPECT_EQ(e.position, 17u);
  EXPECT_EQ(e.expected, k_fault_list);
  EXPECT_EQ(e.found, "\"hangg\"");
  EXPECT_EQ(e.message(),
            "fault plan, column 17: expected a fault (succeed, veto(...), fail, hang, "
            "hang_ignore_abort, delay(...), complete_twice, throw), found \"hangg\"");
  std::ostringstream os;
  os << e;
  EXPECT_EQ(os.str(), e.message());
}

TEST(FaultPlanErrors, EachBadInputIsReportedAtItsExactColumn) {
  const std::string huge_digits(30, '9');
  const std::vector<bad_input> cases = {
      {"writers[3].freeze=hang", 0,
       "a statement (writer[<selector>].<event>=<fault>, provider.<call>=<fault>, "
       "abort@<point>, seed=<n>)",
       "\"writers\""},
      {"writer 3].freeze=hang", 7, "'['", "\"3\""},
      {"writer[x].freeze=hang", 7,
       "a writer selector (an index, *, first, last, middle, <from>..<to>, \"<name>\")", "\"x\""},
      {"writer[2.5].freeze=hang", 8, "']' or '..'", "\".\""},
      {"writer[5..2].freeze=hang", 10, "a range end not less than the start 5", "\"2\""},
      {"writer[2..].freeze=hang", 10, "a range end (an index)", "\"]\""},
      {"writer[" + huge_digits + "].freeze=hang", 7,
       "a writer index of at most 18446744073709551615", "\"" + huge_digits + "\""},
      {"writer[\"\"].freeze=hang", 7, "a non-empty writer name", "\"\\\"\\\"\""},
      {"writer[\"db].freeze=hang", 23, "'\"' closing the writer name", "end of input"},
      {"writer[\"a\\qb\"].freeze=hang", 9, "an escape (\\\", \\\\ or \\xHH)", "\"\\\\qb\\\"\""},
      {"writer[3]freeze=hang", 9, "'.'", "\"freeze\""},
      {"writer[3].freez=hang", 10,
       "a writer event (identify, prepare_backup, prepare_snapshot, freeze, thaw, "
       "post_snapshot, abort, backup_complete, backup_shutdown)",
       "\"freez\""},
      {"writer[3].freeze hang", 17, "'='", "\"hang\""},
      {"writer[0].freeze=veto(S_OK)", 22, k_code_list, "\"S_OK\""},
      {"writer[0].freeze=veto(VSS_S_ASYNC_FINISHED)", 22, k_code_list, "\"VSS_S_ASYNC_FINISHED\""},
      {"writer[0].freeze=veto(bogus)", 22, k_code_list, "\"bogus\""},
      {"writer[0].freeze=veto(retryable", 31, "')'", "end of input"},
      {"writer[0].freeze=veto", 21, "'('", "end of input"},
      {"writer[0].freeze=hang@1.5", 22, "a probability in [0, 1]", "\"1.5\""},
      {"writer[0].freeze=hang@-0.5", 22, "a probability in [0, 1]", "\"-\""},
      {"writer[0].freeze=hang@", 22, "a probability in [0, 1]", "end of input"},
      {"writer[0].freeze=hang xyz", 22, "'@', ';' or end of input", "\"xyz\""},
      {"writer[0].freeze=hang@0.5e3", 25, "';' or end of input", "\"e3\""},
      {"writer[0].freeze=hang\x01", 21, "'@', ';' or end of input", "\"\\x01\""},
      {"provider.comit=hang", 9,
       "a provider call (begin_prepare, end_prepare, pre_commit, commit, post_commit, "
       "pre_final_commit, post_final_commit, abort, delete)",
       "\"comit\""},
      {"provider.commit=delay(12)", 24, "a duration unit right after the number (ns, us, ms, s, m)",
       "\")\""},
      {"provider.commit=delay(12sec)", 24,
       "a duration unit right after the number (ns, us, ms, s, m)", "\"sec\""},
      {"provider.commit=delay(s)", 22, "a duration (an integer and a unit: ns, us, ms, s, m)",
       "\"s\""},
      {"provider.commit=delay(153722868m)", 22, "a duration of at most 9223372036854775807ns",
       "\"153722868m\""},
      {"provider.commit=delay(" + huge_digits + "ns)", 22,
       "a duration of at most 9223372036854775807ns", "\"" + huge_digits + "ns\""},
      {"abort@freeze; abort@thaw", 14, "at most one abort trigger", "a second \"abort\""},
      {"abort@frozen", 6, "an abort point (a writer event or provider.<call>)", "\"frozen\""},
      {"abort@freeze-5ms", 12, "'+', ';' or end of input", "\"-\""},
      {"abort@freeze+", 13, "a duration (an integer and a unit: ns, us, ms, s, m)", "end of input"},
      {"seed=18446744073709551616", 5, "a seed of at most 18446744073709551615",
       "\"18446744073709551616\""},
      {"seed=-1", 5, "a seed (an unsigned 64-bit integer)", "\"-\""},
      {"seed=12abc", 7, "';' or end of input", "\"abc\""},
      {"seed=1;\nwriter[0].thaw=oops", 23, k_fault_list, "\"oops\""},
  };
  for (const bad_input& c : cases) {
    const fault_plan::parse_error e = rejected(c.text);
    EXPECT_EQ(e.position, c.position) << c.text;
    EXPECT_EQ(e.expected, c.expected) << c.text;
    EXPECT_EQ(e.found, c.found) << c.text;
    EXPECT_LE(e.position, c.text.size()) << c.text;
  }
}

TEST(FaultPlanErrors, FoundTextIsShortenedForLongTokens) {
  const fault_plan::parse_error e = rejected("writer[0].freeze=" + std::string(1000, 'h'));
  EXPECT_EQ(e.position, 17u);
  EXPECT_EQ(e.found, "\"" + std::string(40, 'h') + "...\"");
}

TEST(FaultPlanErrors, ARejectedTextLeavesNoPlan) {
  const fault_plan::parse_result r = fault_plan::parse("writer[0].freeze=hang; bogus");
  EXPECT_FALSE(r);
  EXPECT_FALSE(r.plan.has_value());
  EXPECT_EQ(r.error.position, 23u);
  const fault_plan::parse_result ok = fault_plan::parse("writer[0].freeze=hang");
  EXPECT_TRUE(ok);
  EXPECT_EQ(ok.error, fault_plan::parse_error{});
}

// ---- robustness -----------------------------------------------------------------------------

// Parses `text` and checks the contract: no exception, and either a plan that round-trips or
// an error inside the input. Returns true if the text was accepted.
bool check_parse_contract(const std::string& text) {
  fault_plan::parse_result r;
  EXPECT_NO_THROW(r = fault_plan::parse(text)) << testing::PrintToString(text);
  if (r) {
    const fault_plan::parse_result again = fault_plan::parse(r.plan->to_string());
    EXPECT_TRUE(again) << testing::PrintToString(text);
    EXPECT_EQ(again.plan, r.plan) << testing::PrintToString(text);
    return true;
  }
  EXPECT_LE(r.error.position, text.size()) << testing::PrintToString(text);
  EXPECT_FALSE(r.error.expected.empty()) << testing::PrintToString(text);
  EXPECT_FALSE(r.error.found.empty()) << testing::PrintToString(text);
  return false;
}

TEST(FaultPlanRobustness, RandomBytesNeverCrashTheParser) {
  std::mt19937_64 rng(0xF00D);
  // Half of the bytes come from the grammar's alphabet so that parsing gets past the first
  // token often enough to matter.
  constexpr std::string_view alphabet = "writerprovideabortseed[]*..=@()+;\" \\x0123456789smuhvg";
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string text(rng() % 48, '\0');
    for (char& c : text) {
      c = (rng() % 2) ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() % 256);
    }
    accepted += check_parse_contract(text);
    if (testing::Test::HasFailure()) return;
  }
  EXPECT_GT(accepted, 0);  // the empty string and lone ';' at least
}

TEST(FaultPlanRobustness, MutationsOfValidPlansNeverCrashTheParser) {
  const std::vector<std::string> seeds = {
      std::string(k_example),
      "seed=99; writer[\"db\\x41\"].Freeze=veto(VSS_E_PROVIDER_VETO)@0.25; "
      "writer[2..7].thaw=delay(1500ms); abort@provider.pre_commit+1m",
      "writer[middle].post_snapshot=hang_ignore_abort@.5; provider.delete=throw@1",
  };
  std::mt19937_64 rng(0xBEEF);
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string text = seeds[rng() % seeds.size()];
    for (std::uint64_t edits = 1 + rng() % 4; edits > 0; --edits) {
      const std::size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
      switch (rng() % 5) {
        case 0:  // replace a byte
          if (at < text.size()) text[at] = static_cast<char>(rng() % 256);
          break;
        case 1:  // delete a byte
          if (at < text.size()) text.erase(at, 1);
          break;
        case 2:  // insert a byte
          text.insert(at, 1, static_cast<char>(rng() % 256));
          break;
        case 3:  // truncate
          text.resize(at);
          break;
        default:  // insert a huge number
          text.insert(at, std::string(1 + rng() % 40, static_cast<char>('0' + rng() % 10)));
          break;
      }
    }
    accepted += check_parse_contract(text);
    if (testing::Test::HasFailure()) return;
  }
  EXPECT_GT(accepted, 100);
}

TEST(FaultPlanRobustness, HugeInputsAreHandled) {
  check_parse_contract(std::string(200'000, ';'));
  check_parse_contract(std::string(200'000, ' '));
  check_parse_contract("seed=" + std::string(100'000, '9'));
  check_parse_contract("writer[0].thaw=hang@0." + std::string(100'000, '3'));
  check_parse_contract("writer[\"" + std::string(100'000, 'n') + "\"].thaw=hang");
  check_parse_contract(std::string(100'000, '\xFF'));
  EXPECT_TRUE(check_parse_contract(std::string(200'000, ';')));
}

}  // namespace
