// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0

#include "vss/mocks/fault.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using vss::errc;
using vss::writer_event;
using vss::mocks::fault;
using vss::mocks::fault_kind;
using vss::mocks::provider_call;

TEST(FaultKindText, EveryKindHasItsDocumentedName) {
  const std::vector<std::pair<fault_kind, std::string_view>> expected = {
      {fault_kind::succeed, "succeed"},
      {fault_kind::veto, "veto"},
      {fault_kind::fail_without_code, "fail"},
      {fault_kind::hang, "hang"},
      {fault_kind::hang_ignore_abort, "hang_ignore_abort"},
      {fault_kind::delay, "delay"},
      {fault_kind::complete_twice, "complete_twice"},
      {fault_kind::throw_exception, "throw"},
  };
  ASSERT_EQ(expected.size(), vss::mocks::fault_kind_count);
  for (const auto& [kind, name] : expected) EXPECT_EQ(vss::mocks::to_string(kind), name);
}

TEST(FaultKindText, AValueOutsideTheEnumerationPrintsUnknown) {
  EXPECT_EQ(vss::mocks::to_string(static_cast<fault_kind>(200)), "unknown");
}

TEST(FaultKindText, StreamOperatorWritesTheName) {
  std::ostringstream os;
  os << fault_kind::hang_ignore_abort;
  EXPECT_EQ(os.str(), "hang_ignore_abort");
}

TEST(FaultText, TheFiveWriterErrorCodesUseTheirShortNames) {
  EXPECT_EQ(to_string(fault::veto(errc::writer_error_retryable)), "veto(retryable)");
  EXPECT_EQ(to_string(fault::veto(errc::writer_error_nonretryable)), "veto(nonretryable)");
  EXPECT_EQ(to_string(fault::veto(errc::writer_error_inconsistent_snapshot)),
            "veto(inconsistent_snapshot)");
  EXPECT_EQ(to_string(fault::veto(errc::writer_error_out_of_resources)), "veto(out_of_resources)");
  EXPECT_EQ(to_string(fault::veto(errc::writer_error_timeout)), "veto(timeout)");
}

TEST(FaultText, OtherCodesUseTheirVssSymbol) {
  EXPECT_EQ(to_string(fault::veto(errc::provider_veto)), "veto(VSS_E_PROVIDER_VETO)");
  EXPECT_EQ(to_string(fault::veto(errc::fail)), "veto(E_FAIL)");
  EXPECT_EQ(to_string(fault::veto(errc::writer_error_partial_failure)),
            "veto(VSS_E_WRITERERROR_PARTIAL_FAILURE)");
}

TEST(FaultText, AnUnknownCodePrintsItsHexHresult) {
  EXPECT_EQ(to_string(fault::veto(static_cast<errc>(0x80042305u))), "veto(0x80042305)");
}

TEST(FaultText, KindsWithoutArgumentsPrintTheKindName) {
  EXPECT_EQ(to_string(fault::succeed()), "succeed");
  EXPECT_EQ(to_string(fault::fail_without_code()), "fail");
  EXPECT_EQ(to_string(fault::hang()), "hang");
  EXPECT_EQ(to_string(fault::hang_ignore_abort()), "hang_ignore_abort");
  EXPECT_EQ(to_string(fault::complete_twice()), "complete_twice");
  EXPECT_EQ(to_string(fault::throw_exception()), "throw");
}

TEST(FaultText, FieldsTheKindDoesNotUseAreNotPrinted) {
  EXPECT_EQ(to_string(fault{fault_kind::hang, errc::fail, 5s}), "hang");
  EXPECT_EQ(to_string(fault{fault_kind::veto, errc::provider_veto, 5s}),
            "veto(VSS_E_PROVIDER_VETO)");
  EXPECT_EQ(to_string(fault{fault_kind::delay, errc::fail, 5s}), "delay(5s)");
}

TEST(FaultText, DelayIsPrintedInTheLargestUnitThatDividesItExactly) {
  EXPECT_EQ(to_string(fault::delay(12s)), "delay(12s)");
  EXPECT_EQ(to_string(fault::delay(120s)), "delay(2m)");
  EXPECT_EQ(to_string(fault::delay(90s)), "delay(90s)");
  EXPECT_EQ(to_string(fault::delay(1500ms)), "delay(1500ms)");
  EXPECT_EQ(to_string(fault::delay(2000us)), "delay(2ms)");
  EXPECT_EQ(to_string(fault::delay(2500us)), "delay(2500us)");
  EXPECT_EQ(to_string(fault::delay(3000ns)), "delay(3us)");
  EXPECT_EQ(to_string(fault::delay(1ns)), "delay(1ns)");
  EXPECT_EQ(to_string(fault::delay(60min)), "delay(60m)");
}

TEST(FaultText, ZeroDelayPrintsInSeconds) { EXPECT_EQ(to_string(fault::delay(0s)), "delay(0s)"); }

TEST(FaultText, StreamOperatorWritesTheTextForm) {
  std::ostringstream os;
  os << fault::veto(errc::writer_error_retryable) << ' ' << fault::delay(5ms);
  EXPECT_EQ(os.str(), "veto(retryable) delay(5ms)");
}

TEST(FaultEquality, ComparesKindCodeAndDelay) {
  EXPECT_EQ(fault::veto(errc::writer_error_retryable), fault::veto(errc::writer_error_retryable));
  EXPECT_NE(fault::veto(errc::writer_error_retryable),
            fault::veto(errc::writer_error_nonretryable));
  EXPECT_NE(fault::delay(1s), fault::delay(2s));
  EXPECT_NE(fault::hang(), fault::hang_ignore_abort());
  EXPECT_EQ(fault{}, fault::succeed());
}

TEST(ProviderCallText, EveryCallHasItsDocumentedName) {
  const std::vector<std::pair<provider_call, std::string_view>> expected = {
      {provider_call::begin_prepare, "begin_prepare"},
      {provider_call::end_prepare, "end_prepare"},
      {provider_call::pre_commit, "pre_commit"},
      {provider_call::commit, "commit"},
      {provider_call::post_commit, "post_commit"},
      {provider_call::pre_final_commit, "pre_final_commit"},
      {provider_call::post_final_commit, "post_final_commit"},
      {provider_call::abort, "abort"},
      {provider_call::delete_snapshot, "delete"},
  };
  ASSERT_EQ(expected.size(), vss::mocks::provider_call_count);
  for (const auto& [call, name] : expected) EXPECT_EQ(vss::mocks::to_string(call), name);
}

TEST(ProviderCallText, AValueOutsideTheEnumerationPrintsUnknown) {
  EXPECT_EQ(vss::mocks::to_string(static_cast<provider_call>(99)), "unknown");
}

TEST(ProviderCallText, StreamOperatorWritesTheName) {
  std::ostringstream os;
  os << provider_call::delete_snapshot;
  EXPECT_EQ(os.str(), "delete");
}

TEST(ProviderCallFromString, ParsesEveryNameToStringPrints) {
  for (std::size_t i = 0; i < vss::mocks::provider_call_count; ++i) {
    const auto c = static_cast<provider_call>(i);
    EXPECT_EQ(vss::mocks::provider_call_from_string(vss::mocks::to_string(c)), c) << c;
  }
}

TEST(ProviderCallFromString, RejectsOtherSpellings) {
  for (std::string_view bad : {"", "Commit", "COMMIT", " commit", "commit ", "delete_snapshot",
                               "commit_snapshots", "unknown"}) {
    EXPECT_EQ(vss::mocks::provider_call_from_string(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(WriterEventFromString, ParsesTheSnakeCaseNames) {
  const std::vector<std::pair<std::string_view, writer_event>> expected = {
      {"identify", writer_event::identify},
      {"prepare_backup", writer_event::prepare_backup},
      {"prepare_snapshot", writer_event::prepare_snapshot},
      {"freeze", writer_event::freeze},
      {"thaw", writer_event::thaw},
      {"post_snapshot", writer_event::post_snapshot},
      {"abort", writer_event::abort},
      {"backup_complete", writer_event::backup_complete},
      {"backup_shutdown", writer_event::backup_shutdown},
  };
  ASSERT_EQ(expected.size(), vss::writer_event_count);
  for (const auto& [name, event] : expected) {
    EXPECT_EQ(vss::mocks::writer_event_from_string(name), event) << name;
  }
}

TEST(WriterEventFromString, ParsesTheCamelCaseNamesOfVssToString) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < vss::writer_event_count; ++i) {
    const auto e = static_cast<writer_event>(i);
    names.insert(vss::to_string(e));
    EXPECT_EQ(vss::mocks::writer_event_from_string(vss::to_string(e)), e) << vss::to_string(e);
  }
  EXPECT_TRUE(names.count("PrepareSnapshot"));
  EXPECT_EQ(names.size(), vss::writer_event_count);
}

TEST(WriterEventFromString, RejectsOtherSpellings) {
  for (std::string_view bad : {"", "FREEZE", "Prepare_Snapshot", "preparesnapshot", "freeze ",
                               " freeze", "OnFreeze", "prepareSnapshot", "frozen"}) {
    EXPECT_EQ(vss::mocks::writer_event_from_string(bad), std::nullopt) << '"' << bad << '"';
  }
}

}  // namespace
