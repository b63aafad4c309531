#include "vss/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <asio/error.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using vss::condition;
using vss::errc;

struct spec_code {
  errc code;
  std::uint32_t hresult;
  std::string_view symbol;
  std::string_view name;
};

// Copied from spec §8.1 (plus the generic codes listed under it), not from error.hpp, so a
// typo in an enumerator value fails here.
const spec_code k_spec_codes[] = {
    {errc::ok, 0x00000000u, "S_OK", "ok"},
    {errc::s_false, 0x00000001u, "S_FALSE", "s_false"},
    {errc::not_implemented, 0x80004001u, "E_NOTIMPL", "not_implemented"},
    {errc::abort, 0x80004004u, "E_ABORT", "abort"},
    {errc::fail, 0x80004005u, "E_FAIL", "fail"},
    {errc::generic_unexpected, 0x8000FFFFu, "E_UNEXPECTED", "generic_unexpected"},
    {errc::access_denied, 0x80070005u, "E_ACCESSDENIED", "access_denied"},
    {errc::out_of_memory, 0x8007000Eu, "E_OUTOFMEMORY", "out_of_memory"},
    {errc::invalid_arg, 0x80070057u, "E_INVALIDARG", "invalid_arg"},
    {errc::bad_state, 0x80042301u, "VSS_E_BAD_STATE", "bad_state"},
    {errc::unexpected, 0x80042302u, "VSS_E_UNEXPECTED", "unexpected"},
    {errc::provider_already_registered, 0x80042303u, "VSS_E_PROVIDER_ALREADY_REGISTERED",
     "provider_already_registered"},
    {errc::provider_not_registered, 0x80042304u, "VSS_E_PROVIDER_NOT_REGISTERED",
     "provider_not_registered"},
    {errc::provider_veto, 0x80042306u, "VSS_E_PROVIDER_VETO", "provider_veto"},
    {errc::provider_in_use, 0x80042307u, "VSS_E_PROVIDER_IN_USE", "provider_in_use"},
    {errc::object_not_found, 0x80042308u, "VSS_E_OBJECT_NOT_FOUND", "object_not_found"},
    {errc::async_pending, 0x00042309u, "VSS_S_ASYNC_PENDING", "async_pending"},
    {errc::async_finished, 0x0004230Au, "VSS_S_ASYNC_FINISHED", "async_finished"},
    {errc::async_cancelled, 0x0004230Bu, "VSS_S_ASYNC_CANCELLED", "async_cancelled"},
    {errc::volume_not_supported, 0x8004230Cu, "VSS_E_VOLUME_NOT_SUPPORTED", "volume_not_supported"},
    {errc::object_already_exists, 0x8004230Du, "VSS_E_OBJECT_ALREADY_EXISTS",
     "object_already_exists"},
    {errc::volume_not_supported_by_provider, 0x8004230Eu, "VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER",
     "volume_not_supported_by_provider"},
    {errc::unexpected_provider_error, 0x8004230Fu, "VSS_E_UNEXPECTED_PROVIDER_ERROR",
     "unexpected_provider_error"},
    {errc::corrupt_xml_document, 0x80042310u, "VSS_E_CORRUPT_XML_DOCUMENT", "corrupt_xml_document"},
    {errc::invalid_xml_document, 0x80042311u, "VSS_E_INVALID_XML_DOCUMENT", "invalid_xml_document"},
    {errc::maximum_number_of_volumes_reached, 0x80042312u,
     "VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED", "maximum_number_of_volumes_reached"},
    {errc::flush_writes_timeout, 0x80042313u, "VSS_E_FLUSH_WRITES_TIMEOUT", "flush_writes_timeout"},
    {errc::hold_writes_timeout, 0x80042314u, "VSS_E_HOLD_WRITES_TIMEOUT", "hold_writes_timeout"},
    {errc::unexpected_writer_error, 0x80042315u, "VSS_E_UNEXPECTED_WRITER_ERROR",
     "unexpected_writer_error"},
    {errc::snapshot_set_in_progress, 0x80042316u, "VSS_E_SNAPSHOT_SET_IN_PROGRESS",
     "snapshot_set_in_progress"},
    {errc::maximum_number_of_snapshots_reached, 0x80042317u,
     "VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED", "maximum_number_of_snapshots_reached"},
    {errc::writer_infrastructure, 0x80042318u, "VSS_E_WRITER_INFRASTRUCTURE",
     "writer_infrastructure"},
    {errc::writer_not_responding, 0x80042319u, "VSS_E_WRITER_NOT_RESPONDING",
     "writer_not_responding"},
    {errc::writer_already_subscribed, 0x8004231Au, "VSS_E_WRITER_ALREADY_SUBSCRIBED",
     "writer_already_subscribed"},
    {errc::unsupported_context, 0x8004231Bu, "VSS_E_UNSUPPORTED_CONTEXT", "unsupported_context"},
    {errc::volume_in_use, 0x8004231Du, "VSS_E_VOLUME_IN_USE", "volume_in_use"},
    {errc::maximum_diffarea_associations_reached, 0x8004231Eu,
     "VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED", "maximum_diffarea_associations_reached"},
    {errc::insufficient_storage, 0x8004231Fu, "VSS_E_INSUFFICIENT_STORAGE", "insufficient_storage"},
    {errc::no_snapshots_imported, 0x80042320u, "VSS_E_NO_SNAPSHOTS_IMPORTED",
     "no_snapshots_imported"},
    {errc::s_some_snapshots_not_imported, 0x00042321u, "VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED",
     "s_some_snapshots_not_imported"},
    {errc::some_snapshots_not_imported, 0x80042321u, "VSS_E_SOME_SNAPSHOTS_NOT_IMPORTED",
     "some_snapshots_not_imported"},
    {errc::maximum_number_of_remote_machines_reached, 0x80042322u,
     "VSS_E_MAXIMUM_NUMBER_OF_REMOTE_MACHINES_REACHED",
     "maximum_number_of_remote_machines_reached"},
    {errc::remote_server_unavailable, 0x80042323u, "VSS_E_REMOTE_SERVER_UNAVAILABLE",
     "remote_server_unavailable"},
    {errc::remote_server_unsupported, 0x80042324u, "VSS_E_REMOTE_SERVER_UNSUPPORTED",
     "remote_server_unsupported"},
    {errc::revert_in_progress, 0x80042325u, "VSS_E_REVERT_IN_PROGRESS", "revert_in_progress"},
    {errc::revert_volume_lost, 0x80042326u, "VSS_E_REVERT_VOLUME_LOST", "revert_volume_lost"},
    {errc::reboot_required, 0x80042327u, "VSS_E_REBOOT_REQUIRED", "reboot_required"},
    {errc::transaction_freeze_timeout, 0x80042328u, "VSS_E_TRANSACTION_FREEZE_TIMEOUT",
     "transaction_freeze_timeout"},
    {errc::transaction_thaw_timeout, 0x80042329u, "VSS_E_TRANSACTION_THAW_TIMEOUT",
     "transaction_thaw_timeout"},
    {errc::unselected_volume, 0x8004232Au, "VSS_E_UNSELECTED_VOLUME", "unselected_volume"},
    {errc::snapshot_not_in_set, 0x8004232Bu, "VSS_E_SNAPSHOT_NOT_IN_SET", "snapshot_not_in_set"},
    {errc::nested_volume_limit, 0x8004232Cu, "VSS_E_NESTED_VOLUME_LIMIT", "nested_volume_limit"},
    {errc::volume_not_local, 0x8004232Du, "VSS_E_VOLUME_NOT_LOCAL", "volume_not_local"},
    {errc::cluster_timeout, 0x8004232Eu, "VSS_E_CLUSTER_TIMEOUT", "cluster_timeout"},
    {errc::not_supported, 0x8004232Fu, "VSS_E_NOT_SUPPORTED", "not_supported"},
    {errc::writer_error_partial_failure, 0x80042336u, "VSS_E_WRITERERROR_PARTIAL_FAILURE",
     "writer_error_partial_failure"},
    {errc::writer_error_inconsistent_snapshot, 0x800423F0u,
     "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT", "writer_error_inconsistent_snapshot"},
    {errc::writer_error_out_of_resources, 0x800423F1u, "VSS_E_WRITERERROR_OUTOFRESOURCES",
     "writer_error_out_of_resources"},
    {errc::writer_error_timeout, 0x800423F2u, "VSS_E_WRITERERROR_TIMEOUT", "writer_error_timeout"},
    {errc::writer_error_retryable, 0x800423F3u, "VSS_E_WRITERERROR_RETRYABLE",
     "writer_error_retryable"},
    {errc::writer_error_nonretryable, 0x800423F4u, "VSS_E_WRITERERROR_NONRETRYABLE",
     "writer_error_nonretryable"},
    {errc::writer_error_recovery_failed, 0x800423F5u, "VSS_E_WRITERERROR_RECOVERY_FAILED",
     "writer_error_recovery_failed"},
    {errc::break_revert_id_failed, 0x800423F6u, "VSS_E_BREAK_REVERT_ID_FAILED",
     "break_revert_id_failed"},
    {errc::legacy_provider, 0x800423F7u, "VSS_E_LEGACY_PROVIDER", "legacy_provider"},
    {errc::missing_disk, 0x800423F8u, "VSS_E_MISSING_DISK", "missing_disk"},
    {errc::missing_hidden_volume, 0x800423F9u, "VSS_E_MISSING_HIDDEN_VOLUME",
     "missing_hidden_volume"},
    {errc::missing_volume, 0x800423FAu, "VSS_E_MISSING_VOLUME", "missing_volume"},
    {errc::autorecovery_failed, 0x800423FBu, "VSS_E_AUTORECOVERY_FAILED", "autorecovery_failed"},
    {errc::dynamic_disk_error, 0x800423FCu, "VSS_E_DYNAMIC_DISK_ERROR", "dynamic_disk_error"},
    {errc::nontransportable_bcd, 0x800423FDu, "VSS_E_NONTRANSPORTABLE_BCD", "nontransportable_bcd"},
    {errc::cannot_revert_diskid, 0x800423FEu, "VSS_E_CANNOT_REVERT_DISKID", "cannot_revert_diskid"},
    {errc::resync_in_progress, 0x800423FFu, "VSS_E_RESYNC_IN_PROGRESS", "resync_in_progress"},
    {errc::cluster_error, 0x80042400u, "VSS_E_CLUSTER_ERROR", "cluster_error"},
    {errc::asr_error_disk_assignment_failed, 0x80042401u, "VSS_E_ASRERROR_DISK_ASSIGNMENT_FAILED",
     "asr_error_disk_assignment_failed"},
    {errc::asr_error_disk_recreation_failed, 0x80042402u, "VSS_E_ASRERROR_DISK_RECREATION_FAILED",
     "asr_error_disk_recreation_failed"},
    {errc::asr_error_no_arcpath, 0x80042403u, "VSS_E_ASRERROR_NO_ARCPATH", "asr_error_no_arcpath"},
    {errc::asr_error_missing_dyndisk, 0x80042404u, "VSS_E_ASRERROR_MISSING_DYNDISK",
     "asr_error_missing_dyndisk"},
    {errc::asr_error_shared_cridisk, 0x80042405u, "VSS_E_ASRERROR_SHARED_CRIDISK",
     "asr_error_shared_cridisk"},
    {errc::asr_error_datadisk_rdisk0, 0x80042406u, "VSS_E_ASRERROR_DATADISK_RDISK0",
     "asr_error_datadisk_rdisk0"},
    {errc::asr_error_rdisk0_toosmall, 0x80042407u, "VSS_E_ASRERROR_RDISK0_TOOSMALL",
     "asr_error_rdisk0_toosmall"},
    {errc::asr_error_critical_disks_too_small, 0x80042408u,
     "VSS_E_ASRERROR_CRITICAL_DISKS_TOO_SMALL", "asr_error_critical_disks_too_small"},
    {errc::writer_status_not_available, 0x80042409u, "VSS_E_WRITER_STATUS_NOT_AVAILABLE",
     "writer_status_not_available"},
    {errc::asr_error_dynamic_vhd_not_supported, 0x8004240Au,
     "VSS_E_ASRERROR_DYNAMIC_VHD_NOT_SUPPORTED", "asr_error_dynamic_vhd_not_supported"},
    {errc::critical_volume_on_invalid_disk, 0x80042411u, "VSS_E_CRITICAL_VOLUME_ON_INVALID_DISK",
     "critical_volume_on_invalid_disk"},
    {errc::asr_error_rdisk_for_system_disk_not_found, 0x80042412u,
     "VSS_E_ASRERROR_RDISK_FOR_SYSTEM_DISK_NOT_FOUND", "asr_error_rdisk_for_system_disk_not_found"},
    {errc::asr_error_no_physical_disk_available, 0x80042413u,
     "VSS_E_ASRERROR_NO_PHYSICAL_DISK_AVAILABLE", "asr_error_no_physical_disk_available"},
    {errc::asr_error_fixed_physical_disk_available_after_disk_exclusion, 0x80042414u,
     "VSS_E_ASRERROR_FIXED_PHYSICAL_DISK_AVAILABLE_AFTER_DISK_EXCLUSION",
     "asr_error_fixed_physical_disk_available_after_disk_exclusion"},
    {errc::asr_error_critical_disk_cannot_be_excluded, 0x80042415u,
     "VSS_E_ASRERROR_CRITICAL_DISK_CANNOT_BE_EXCLUDED",
     "asr_error_critical_disk_cannot_be_excluded"},
    {errc::asr_error_system_partition_hidden, 0x80042416u, "VSS_E_ASRERROR_SYSTEM_PARTITION_HIDDEN",
     "asr_error_system_partition_hidden"},
    {errc::fss_timeout, 0x80042417u, "VSS_E_FSS_TIMEOUT", "fss_timeout"},
};

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

TEST(ErrcValues, EveryEnumeratorCarriesTheHresultOfTheSpecTable) {
  for (const spec_code& c : k_spec_codes) {
    SCOPED_TRACE(std::string(c.symbol));
    EXPECT_EQ(vss::hresult(c.code), c.hresult);
    EXPECT_EQ(static_cast<std::int32_t>(c.code), static_cast<std::int32_t>(c.hresult));
    EXPECT_EQ(vss::make_error_code(c.code).value(), static_cast<std::int32_t>(c.hresult));
  }
}

TEST(ErrcValues, KnownCodesAreExactlyTheSpecCodesInTableOrder) {
  const auto known = vss::known_codes();
  ASSERT_EQ(known.size(), std::size(k_spec_codes));
  for (std::size_t i = 0; i < known.size(); ++i) {
    EXPECT_EQ(known[i], k_spec_codes[i].code) << "index " << i;
  }
}

TEST(ErrcValues, AllValuesAreDistinct) {
  std::set<std::uint32_t> seen;
  for (const spec_code& c : k_spec_codes) {
    EXPECT_TRUE(seen.insert(c.hresult).second) << c.symbol;
  }
}

TEST(ErrcValues, SuccessAndErrorVariantsOfSomeSnapshotsNotImportedAreDistinctCodes) {
  EXPECT_EQ(vss::hresult(errc::s_some_snapshots_not_imported), 0x00042321u);
  EXPECT_EQ(vss::hresult(errc::some_snapshots_not_imported), 0x80042321u);
  EXPECT_TRUE(vss::succeeded(errc::s_some_snapshots_not_imported));
  EXPECT_FALSE(vss::succeeded(errc::some_snapshots_not_imported));
}

TEST(ErrcValues, HresultAndSucceededAreUsableAtCompileTime) {
  static_assert(vss::hresult(errc::bad_state) == 0x80042301u);
  static_assert(vss::succeeded(errc::async_finished));
  static_assert(!vss::succeeded(errc::bad_state));
  SUCCEED();
}

TEST(ErrcValues, SucceededIsTrueExactlyForNonNegativeHresults) {
  int successes = 0;
  for (const spec_code& c : k_spec_codes) {
    const bool expected = (c.hresult & 0x80000000u) == 0;
    EXPECT_EQ(vss::succeeded(c.code), expected) << c.symbol;
    EXPECT_EQ(vss::succeeded(vss::make_error_code(c.code)), expected) << c.symbol;
    successes += expected ? 1 : 0;
  }
  // S_OK, S_FALSE, VSS_S_ASYNC_{PENDING,FINISHED,CANCELLED}, VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED.
  EXPECT_EQ(successes, 6);
}

TEST(ErrcValues, SucceededOnForeignCodesTreatsOnlyZeroAsSuccess) {
  EXPECT_TRUE(vss::succeeded(std::error_code{}));
  EXPECT_FALSE(vss::succeeded(std::make_error_code(std::errc::io_error)));
  EXPECT_FALSE(vss::succeeded(std::error_code(1, std::generic_category())));
}

TEST(ErrcValues, OnlyOkIsAFalseErrorCode) {
  EXPECT_FALSE(vss::make_error_code(errc::ok));
  EXPECT_TRUE(vss::make_error_code(errc::s_false));
  EXPECT_TRUE(vss::make_error_code(errc::async_finished));
}

TEST(ErrcValues, ConvertImplicitlyToErrorCodeAndCompare) {
  std::error_code ec = errc::bad_state;
  EXPECT_EQ(ec, errc::bad_state);
  EXPECT_NE(ec, errc::unexpected);
  EXPECT_EQ(&ec.category(), &vss::vss_category());
  EXPECT_EQ(ec.value(), static_cast<int>(0x80042301u));
}

TEST(ErrorCategory, NameIsVss) { EXPECT_STREQ(vss::vss_category().name(), "vss"); }

TEST(ErrorCategory, MessageNamesTheVssSymbolAndHresult) {
  for (const spec_code& c : k_spec_codes) {
    const std::string message = vss::make_error_code(c.code).message();
    const std::string prefix = std::string(c.symbol) + " (" + hex(c.hresult) + "): ";
    ASSERT_GT(message.size(), prefix.size()) << message;
    EXPECT_EQ(message.substr(0, prefix.size()), prefix);
  }
}

TEST(ErrorCategory, MessageCarriesTheSpecMeaning) {
  EXPECT_EQ(vss::make_error_code(errc::bad_state).message(),
            "VSS_E_BAD_STATE (0x80042301): call made in a state where it is not allowed");
  EXPECT_EQ(vss::make_error_code(errc::writer_error_retryable).message(),
            "VSS_E_WRITERERROR_RETRYABLE (0x800423F3): transient; retrying the whole operation "
            "may succeed");
}

TEST(ErrorCategory, UnknownValuesSayUnknown) {
  EXPECT_EQ(vss::vss_category().message(static_cast<int>(0x80042305u)),
            "unknown VSS code 0x80042305");
  EXPECT_EQ(vss::vss_category().message(42), "unknown VSS code 0x0000002A");
  EXPECT_EQ(vss::symbol(static_cast<errc>(0x8004231C)), "");
  EXPECT_EQ(vss::enumerator_name(static_cast<errc>(0x8004231C)), "");
}

TEST(ErrcSymbols, SymbolAndNameRoundTripForEveryCode) {
  for (const spec_code& c : k_spec_codes) {
    SCOPED_TRACE(std::string(c.symbol));
    EXPECT_EQ(vss::symbol(c.code), c.symbol);
    EXPECT_EQ(vss::enumerator_name(c.code), c.name);
    EXPECT_EQ(vss::errc_from_symbol(c.symbol), c.code);
    EXPECT_EQ(vss::errc_from_symbol(c.name), c.code);
    EXPECT_EQ(vss::errc_from_symbol(lower(c.symbol)), c.code);
    EXPECT_EQ(vss::errc_from_symbol(upper(c.name)), c.code);
  }
}

TEST(ErrcSymbols, GenericAndVssUnexpectedAreDifferentCodes) {
  EXPECT_EQ(vss::errc_from_symbol("E_UNEXPECTED"), errc::generic_unexpected);
  EXPECT_EQ(vss::errc_from_symbol("VSS_E_UNEXPECTED"), errc::unexpected);
  EXPECT_EQ(vss::errc_from_symbol("unexpected"), errc::unexpected);
}

TEST(ErrcSymbols, RejectsAnythingElse) {
  for (std::string_view bad : {"", "VSS_E_", "VSS_E_BAD_STATEX", "bad state", "bad_state ",
                               "0x80042301", "2147754753", "VSS_S_BAD_STATE", "E_BAD_STATE"}) {
    EXPECT_EQ(vss::errc_from_symbol(bad), std::nullopt) << '"' << bad << '"';
  }
}

// The mapping of spec §6.3 / §8.1 guidance, written out again independently of error.cpp.
struct expected_conditions {
  errc code;
  std::vector<condition> conditions;
};

const std::vector<expected_conditions>& mapping() {
  static const std::vector<expected_conditions> m = {
      {errc::writer_error_retryable, {condition::retryable}},
      {errc::writer_error_out_of_resources, {condition::retryable}},
      {errc::writer_error_timeout, {condition::retryable, condition::timed_out}},
      {errc::flush_writes_timeout, {condition::retryable, condition::timed_out}},
      {errc::hold_writes_timeout, {condition::retryable, condition::timed_out}},
      {errc::provider_veto, {condition::retryable}},
      {errc::unexpected_provider_error, {condition::retryable}},
      {errc::snapshot_set_in_progress, {condition::retryable}},
      {errc::writer_status_not_available, {condition::retryable}},
      {errc::out_of_memory, {condition::retryable}},
      {errc::writer_error_inconsistent_snapshot, {condition::retry_after_reconfigure}},
      {errc::maximum_number_of_volumes_reached, {condition::retry_after_reconfigure}},
      {errc::maximum_number_of_snapshots_reached, {condition::retry_after_reconfigure}},
      {errc::insufficient_storage, {condition::retry_after_reconfigure}},
      {errc::volume_not_supported, {condition::retry_after_reconfigure}},
      {errc::volume_not_supported_by_provider, {condition::retry_after_reconfigure}},
      {errc::unsupported_context, {condition::retry_after_reconfigure}},
      {errc::writer_error_nonretryable, {condition::fatal}},
      {errc::writer_not_responding, {condition::fatal, condition::timed_out}},
      {errc::writer_error_recovery_failed, {condition::fatal}},
      {errc::unexpected, {condition::fatal}},
      {errc::generic_unexpected, {condition::fatal}},
      {errc::bad_state, {condition::fatal}},
      {errc::invalid_arg, {condition::fatal}},
      {errc::access_denied, {condition::fatal}},
      {errc::writer_infrastructure, {condition::fatal}},
      {errc::fail, {condition::fatal}},
      {errc::transaction_freeze_timeout, {condition::timed_out}},
      {errc::transaction_thaw_timeout, {condition::timed_out}},
      {errc::cluster_timeout, {condition::timed_out}},
      {errc::fss_timeout, {condition::timed_out}},
      {errc::async_cancelled, {condition::cancelled}},
  };
  return m;
}

constexpr condition k_all_conditions[] = {condition::retryable, condition::retry_after_reconfigure,
                                          condition::fatal, condition::timed_out,
                                          condition::cancelled};

TEST(ErrorConditions, EveryCodeMatchesExactlyItsMappedConditions) {
  int matches = 0;
  for (const spec_code& c : k_spec_codes) {
    auto it = std::find_if(mapping().begin(), mapping().end(),
                           [&](const expected_conditions& e) { return e.code == c.code; });
    const std::vector<condition> expected =
        it == mapping().end() ? std::vector<condition>{} : it->conditions;
    const std::error_code ec = c.code;
    for (condition cond : k_all_conditions) {
      const bool want = std::find(expected.begin(), expected.end(), cond) != expected.end();
      EXPECT_EQ(ec == cond, want) << c.symbol << " vs "
                                  << vss::make_error_condition(cond).message();
      EXPECT_EQ(ec != cond, !want) << c.symbol;
      matches += (ec == cond) ? 1 : 0;
    }
  }
  EXPECT_EQ(matches, 36);  // 32 codes, 4 of them in two conditions
}

TEST(ErrorConditions, WriterErrorRetryableIsRetryable) {
  EXPECT_TRUE(vss::make_error_code(errc::writer_error_retryable) == condition::retryable);
  EXPECT_TRUE(vss::make_error_code(errc::writer_error_nonretryable) != condition::retryable);
  EXPECT_TRUE(vss::make_error_code(errc::writer_error_nonretryable) == condition::fatal);
}

TEST(ErrorConditions, DefaultConditionPrefersWhatToDoOverWhy) {
  EXPECT_EQ(vss::make_error_code(errc::writer_error_timeout).default_error_condition(),
            condition::retryable);
  EXPECT_EQ(vss::make_error_code(errc::writer_not_responding).default_error_condition(),
            condition::fatal);
  EXPECT_EQ(vss::make_error_code(errc::fss_timeout).default_error_condition(),
            condition::timed_out);
  EXPECT_EQ(vss::make_error_code(errc::async_cancelled).default_error_condition(),
            condition::cancelled);
}

TEST(ErrorConditions, UnmappedCodeDefaultsToItsOwnCategory) {
  const std::error_code ec = errc::object_not_found;
  EXPECT_EQ(&ec.default_error_condition().category(), &vss::vss_category());
  EXPECT_EQ(ec.default_error_condition().value(), ec.value());
  EXPECT_TRUE(ec == std::error_condition(ec.value(), vss::vss_category()));
  EXPECT_FALSE(ec == std::error_condition(static_cast<int>(errc::bad_state), vss::vss_category()));
}

TEST(ErrorConditions, AsioOperationAbortedIsCancelled) {
  const std::error_code aborted = asio::error::operation_aborted;
  EXPECT_TRUE(aborted == condition::cancelled);
  EXPECT_FALSE(aborted == condition::fatal);
  EXPECT_FALSE(aborted == condition::retryable);
}

TEST(ErrorConditions, StdOperationCanceledIsCancelled) {
  EXPECT_TRUE(std::make_error_code(std::errc::operation_canceled) == condition::cancelled);
  EXPECT_TRUE(std::error_code(ECANCELED, std::system_category()) == condition::cancelled);
}

TEST(ErrorConditions, OtherForeignCodesMatchNoCondition) {
  const std::error_code foreign[] = {
      std::error_code{},
      std::make_error_code(std::errc::io_error),
      std::error_code(ECANCELED, vss::vss_category()),
      std::error_code(ECANCELED, std::iostream_category()),
      asio::error::eof,
      asio::error::connection_reset,
      asio::error::timed_out,
  };
  for (const std::error_code& ec : foreign) {
    for (condition cond : k_all_conditions) {
      EXPECT_FALSE(ec == cond) << ec.category().name() << ':' << ec.value();
    }
  }
}

TEST(ErrorConditions, SuccessCodesOtherThanAsyncCancelledMatchNoCondition) {
  for (errc e : {errc::ok, errc::s_false, errc::async_pending, errc::async_finished}) {
    for (condition cond : k_all_conditions) EXPECT_FALSE(std::error_code(e) == cond);
  }
}

TEST(ConditionCategory, NameAndMessages) {
  EXPECT_STREQ(vss::condition_category().name(), "vss.condition");
  std::set<std::string> messages;
  for (condition cond : k_all_conditions) {
    const std::error_condition ec = cond;
    EXPECT_EQ(&ec.category(), &vss::condition_category());
    EXPECT_EQ(ec.value(), static_cast<int>(cond));
    EXPECT_TRUE(messages.insert(ec.message()).second) << ec.message();
  }
  EXPECT_EQ(vss::make_error_condition(condition::retryable).value(), 1);
  EXPECT_EQ(vss::condition_category().message(99), "unknown vss condition 99");
}

}  // namespace
