#include "vss/types.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "vss/error.hpp"

namespace {

using vss::application_level;
using vss::backup_type;
using vss::component_type;
using vss::object_type;
using vss::provider_type;
using vss::snapshot_context;
using vss::snapshot_state;
using vss::source_type;
using vss::usage_type;
using vss::volume_attributes;
using vss::writer_state;

template <class Enum>
struct spec_entry {
  Enum value;
  long long number;
  std::string_view symbol;
};

template <class Enum>
std::string printed(Enum v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Checks value, to_string() and operator<< of every entry of a table copied from the spec.
template <class Enum, std::size_t N>
void check_table(const spec_entry<Enum> (&table)[N]) {
  for (const auto& e : table) {
    SCOPED_TRACE(std::string(e.symbol));
    EXPECT_EQ(static_cast<long long>(e.value), e.number);
    EXPECT_EQ(vss::to_string(e.value), e.symbol);
    EXPECT_EQ(printed(e.value), e.symbol);
    EXPECT_EQ(::testing::PrintToString(e.value), e.symbol);
  }
}

// Spec §6.1.
const spec_entry<writer_state> k_writer_states[] = {
    {writer_state::unknown, 0, "VSS_WS_UNKNOWN"},
    {writer_state::stable, 1, "VSS_WS_STABLE"},
    {writer_state::waiting_for_freeze, 2, "VSS_WS_WAITING_FOR_FREEZE"},
    {writer_state::waiting_for_thaw, 3, "VSS_WS_WAITING_FOR_THAW"},
    {writer_state::waiting_for_post_snapshot, 4, "VSS_WS_WAITING_FOR_POST_SNAPSHOT"},
    {writer_state::waiting_for_backup_complete, 5, "VSS_WS_WAITING_FOR_BACKUP_COMPLETE"},
    {writer_state::failed_at_identify, 6, "VSS_WS_FAILED_AT_IDENTIFY"},
    {writer_state::failed_at_prepare_backup, 7, "VSS_WS_FAILED_AT_PREPARE_BACKUP"},
    {writer_state::failed_at_prepare_snapshot, 8, "VSS_WS_FAILED_AT_PREPARE_SNAPSHOT"},
    {writer_state::failed_at_freeze, 9, "VSS_WS_FAILED_AT_FREEZE"},
    {writer_state::failed_at_thaw, 10, "VSS_WS_FAILED_AT_THAW"},
    {writer_state::failed_at_post_snapshot, 11, "VSS_WS_FAILED_AT_POST_SNAPSHOT"},
    {writer_state::failed_at_backup_complete, 12, "VSS_WS_FAILED_AT_BACKUP_COMPLETE"},
    {writer_state::failed_at_pre_restore, 13, "VSS_WS_FAILED_AT_PRE_RESTORE"},
    {writer_state::failed_at_post_restore, 14, "VSS_WS_FAILED_AT_POST_RESTORE"},
    {writer_state::failed_at_backup_shutdown, 15, "VSS_WS_FAILED_AT_BACKUPSHUTDOWN"},
    {writer_state::count, 16, "VSS_WS_COUNT"},
};

// Spec §8.2.
const spec_entry<backup_type> k_backup_types[] = {
    {backup_type::undefined, 0, "VSS_BT_UNDEFINED"},
    {backup_type::full, 1, "VSS_BT_FULL"},
    {backup_type::incremental, 2, "VSS_BT_INCREMENTAL"},
    {backup_type::differential, 3, "VSS_BT_DIFFERENTIAL"},
    {backup_type::log, 4, "VSS_BT_LOG"},
    {backup_type::copy, 5, "VSS_BT_COPY"},
    {backup_type::other, 6, "VSS_BT_OTHER"},
};

// Spec §8.3.
const spec_entry<usage_type> k_usage_types[] = {
    {usage_type::undefined, 0, "VSS_UT_UNDEFINED"},
    {usage_type::bootable_system_state, 1, "VSS_UT_BOOTABLESYSTEMSTATE"},
    {usage_type::system_service, 2, "VSS_UT_SYSTEMSERVICE"},
    {usage_type::user_data, 3, "VSS_UT_USERDATA"},
    {usage_type::other, 4, "VSS_UT_OTHER"},
};

// Spec §8.3.
const spec_entry<source_type> k_source_types[] = {
    {source_type::undefined, 0, "VSS_ST_UNDEFINED"},
    {source_type::transacted_db, 1, "VSS_ST_TRANSACTEDDB"},
    {source_type::nontransacted_db, 2, "VSS_ST_NONTRANSACTEDDB"},
    {source_type::other, 3, "VSS_ST_OTHER"},
};

// Spec §8.2.
const spec_entry<application_level> k_application_levels[] = {
    {application_level::auto_level, -1, "VSS_APP_AUTO"},
    {application_level::unknown, 0, "VSS_APP_UNKNOWN"},
    {application_level::system, 1, "VSS_APP_SYSTEM"},
    {application_level::back_end, 2, "VSS_APP_BACK_END"},
    {application_level::front_end, 3, "VSS_APP_FRONT_END"},
    {application_level::system_rm, 4, "VSS_APP_SYSTEM_RM"},
};

// Spec §8.2 (modern numbering, not the XP one of §8.4).
const spec_entry<snapshot_state> k_snapshot_states[] = {
    {snapshot_state::unknown, 0, "VSS_SS_UNKNOWN"},
    {snapshot_state::preparing, 1, "VSS_SS_PREPARING"},
    {snapshot_state::processing_prepare, 2, "VSS_SS_PROCESSING_PREPARE"},
    {snapshot_state::prepared, 3, "VSS_SS_PREPARED"},
    {snapshot_state::processing_precommit, 4, "VSS_SS_PROCESSING_PRECOMMIT"},
    {snapshot_state::precommitted, 5, "VSS_SS_PRECOMMITTED"},
    {snapshot_state::processing_commit, 6, "VSS_SS_PROCESSING_COMMIT"},
    {snapshot_state::committed, 7, "VSS_SS_COMMITTED"},
    {snapshot_state::processing_postcommit, 8, "VSS_SS_PROCESSING_POSTCOMMIT"},
    {snapshot_state::processing_prefinalcommit, 9, "VSS_SS_PROCESSING_PREFINALCOMMIT"},
    {snapshot_state::prefinalcommitted, 10, "VSS_SS_PREFINALCOMMITTED"},
    {snapshot_state::processing_postfinalcommit, 11, "VSS_SS_PROCESSING_POSTFINALCOMMIT"},
    {snapshot_state::created, 12, "VSS_SS_CREATED"},
    {snapshot_state::aborted, 13, "VSS_SS_ABORTED"},
    {snapshot_state::deleted, 14, "VSS_SS_DELETED"},
    {snapshot_state::postcommitted, 15, "VSS_SS_POSTCOMMITTED"},
    {snapshot_state::count, 16, "VSS_SS_COUNT"},
};

// Spec §8.2.
const spec_entry<object_type> k_object_types[] = {
    {object_type::unknown, 0, "VSS_OBJECT_UNKNOWN"},
    {object_type::none, 1, "VSS_OBJECT_NONE"},
    {object_type::snapshot_set, 2, "VSS_OBJECT_SNAPSHOT_SET"},
    {object_type::snapshot, 3, "VSS_OBJECT_SNAPSHOT"},
    {object_type::provider, 4, "VSS_OBJECT_PROVIDER"},
    {object_type::type_count, 5, "VSS_OBJECT_TYPE_COUNT"},
};

// Spec §8.3.
const spec_entry<component_type> k_component_types[] = {
    {component_type::undefined, 0, "VSS_CT_UNDEFINED"},
    {component_type::database, 1, "VSS_CT_DATABASE"},
    {component_type::file_group, 2, "VSS_CT_FILEGROUP"},
};

// Spec §8.2.
const spec_entry<provider_type> k_provider_types[] = {
    {provider_type::unknown, 0, "VSS_PROV_UNKNOWN"},
    {provider_type::system, 1, "VSS_PROV_SYSTEM"},
    {provider_type::software, 2, "VSS_PROV_SOFTWARE"},
    {provider_type::hardware, 3, "VSS_PROV_HARDWARE"},
    {provider_type::file_share, 4, "VSS_PROV_FILESHARE"},
};

// Spec §8.2 _VSS_VOLUME_SNAPSHOT_ATTRIBUTES.
const spec_entry<volume_attributes> k_volume_attributes[] = {
    {volume_attributes::persistent, 0x1, "VSS_VOLSNAP_ATTR_PERSISTENT"},
    {volume_attributes::no_autorecovery, 0x2, "VSS_VOLSNAP_ATTR_NO_AUTORECOVERY"},
    {volume_attributes::client_accessible, 0x4, "VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE"},
    {volume_attributes::no_auto_release, 0x8, "VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE"},
    {volume_attributes::no_writers, 0x10, "VSS_VOLSNAP_ATTR_NO_WRITERS"},
    {volume_attributes::transportable, 0x20, "VSS_VOLSNAP_ATTR_TRANSPORTABLE"},
    {volume_attributes::not_surfaced, 0x40, "VSS_VOLSNAP_ATTR_NOT_SURFACED"},
    {volume_attributes::not_transacted, 0x80, "VSS_VOLSNAP_ATTR_NOT_TRANSACTED"},
    {volume_attributes::hardware_assisted, 0x10000, "VSS_VOLSNAP_ATTR_HARDWARE_ASSISTED"},
    {volume_attributes::differential, 0x20000, "VSS_VOLSNAP_ATTR_DIFFERENTIAL"},
    {volume_attributes::plex, 0x40000, "VSS_VOLSNAP_ATTR_PLEX"},
    {volume_attributes::imported, 0x80000, "VSS_VOLSNAP_ATTR_IMPORTED"},
    {volume_attributes::exposed_locally, 0x100000, "VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY"},
    {volume_attributes::exposed_remotely, 0x200000, "VSS_VOLSNAP_ATTR_EXPOSED_REMOTELY"},
    {volume_attributes::autorecover, 0x400000, "VSS_VOLSNAP_ATTR_AUTORECOVER"},
    {volume_attributes::rollback_recovery, 0x800000, "VSS_VOLSNAP_ATTR_ROLLBACK_RECOVERY"},
    {volume_attributes::delayed_postsnapshot, 0x1000000, "VSS_VOLSNAP_ATTR_DELAYED_POSTSNAPSHOT"},
    {volume_attributes::txf_recovery, 0x2000000, "VSS_VOLSNAP_ATTR_TXF_RECOVERY"},
    {volume_attributes::file_share, 0x4000000, "VSS_VOLSNAP_ATTR_FILE_SHARE"},
};

// Spec §8.2 _VSS_SNAPSHOT_CONTEXT.
const spec_entry<snapshot_context> k_snapshot_contexts[] = {
    {snapshot_context::backup, 0x0, "VSS_CTX_BACKUP"},
    {snapshot_context::file_share_backup, 0x10, "VSS_CTX_FILE_SHARE_BACKUP"},
    {snapshot_context::nas_rollback, 0x19, "VSS_CTX_NAS_ROLLBACK"},
    {snapshot_context::app_rollback, 0x9, "VSS_CTX_APP_ROLLBACK"},
    {snapshot_context::client_accessible, 0x1D, "VSS_CTX_CLIENT_ACCESSIBLE"},
    {snapshot_context::client_accessible_writers, 0xD, "VSS_CTX_CLIENT_ACCESSIBLE_WRITERS"},
    {snapshot_context::all, 0xFFFFFFFF, "VSS_CTX_ALL"},
};

TEST(EnumValues, WriterStatesMatchSpecTable) { check_table(k_writer_states); }
TEST(EnumValues, BackupTypesMatchSpecTable) { check_table(k_backup_types); }
TEST(EnumValues, UsageTypesMatchSpecTable) { check_table(k_usage_types); }
TEST(EnumValues, SourceTypesMatchSpecTable) { check_table(k_source_types); }
TEST(EnumValues, ApplicationLevelsMatchSpecTable) { check_table(k_application_levels); }
TEST(EnumValues, SnapshotStatesUseTheModernNumbering) { check_table(k_snapshot_states); }
TEST(EnumValues, ObjectTypesMatchSpecTable) { check_table(k_object_types); }
TEST(EnumValues, ComponentTypesMatchSpecTable) { check_table(k_component_types); }
TEST(EnumValues, ProviderTypesMatchSpecTable) { check_table(k_provider_types); }
TEST(EnumValues, VolumeAttributesMatchSpecTable) { check_table(k_volume_attributes); }
TEST(EnumValues, SnapshotContextsMatchSpecTable) { check_table(k_snapshot_contexts); }

TEST(EnumValues, UnnamedValuesPrintTheirTypeAndNumber) {
  EXPECT_EQ(vss::to_string(static_cast<writer_state>(42)), "");
  EXPECT_EQ(printed(static_cast<writer_state>(42)), "writer_state(42)");
  EXPECT_EQ(printed(static_cast<writer_state>(-1)), "writer_state(-1)");
  EXPECT_EQ(printed(static_cast<application_level>(-2)), "application_level(-2)");
  EXPECT_EQ(printed(static_cast<application_level>(5)), "application_level(5)");
  EXPECT_EQ(printed(static_cast<backup_type>(7)), "backup_type(7)");
  EXPECT_EQ(printed(static_cast<snapshot_state>(17)), "snapshot_state(17)");
  EXPECT_EQ(printed(static_cast<provider_type>(5)), "provider_type(5)");
}

TEST(WriterState, IsFailedExactlyForTheFailedAtStates) {
  for (const auto& e : k_writer_states) {
    EXPECT_EQ(vss::is_failed(e.value), e.number >= 6 && e.number <= 15) << e.symbol;
  }
  static_assert(vss::is_failed(writer_state::failed_at_freeze));
  static_assert(!vss::is_failed(writer_state::count));
}

TEST(VolumeAttributes, BitOperatorsWorkAtCompileTime) {
  constexpr auto a = volume_attributes::persistent | volume_attributes::no_auto_release;
  static_assert(static_cast<std::uint32_t>(a) == 0x9);
  static_assert(vss::any(a & volume_attributes::persistent));
  static_assert(!vss::any(a & volume_attributes::plex));
  static_assert(static_cast<std::uint32_t>(~volume_attributes::persistent) == 0xFFFFFFFEu);
  static_assert(!vss::any(volume_attributes::none));
  auto b = volume_attributes::none;
  b |= volume_attributes::plex;
  b |= volume_attributes::transportable;
  b &= ~volume_attributes::plex;
  EXPECT_EQ(b, volume_attributes::transportable);
}

TEST(VolumeAttributes, CombinationsPrintEveryBit) {
  EXPECT_EQ(printed(volume_attributes::none), "0");
  EXPECT_EQ(printed(volume_attributes::persistent | volume_attributes::plex),
            "VSS_VOLSNAP_ATTR_PERSISTENT|VSS_VOLSNAP_ATTR_PLEX");
  EXPECT_EQ(printed(volume_attributes::no_writers | static_cast<volume_attributes>(0x8000)),
            "VSS_VOLSNAP_ATTR_NO_WRITERS|0x00008000");
  EXPECT_EQ(vss::to_string(volume_attributes::persistent | volume_attributes::plex), "");
}

TEST(SnapshotContext, NamedContextsAreTheDocumentedAttributeCombinations) {
  using A = volume_attributes;
  auto raw = [](A a) { return static_cast<std::uint32_t>(a); };
  EXPECT_EQ(vss::to_raw(snapshot_context::file_share_backup), raw(A::no_writers));
  EXPECT_EQ(vss::to_raw(snapshot_context::nas_rollback),
            raw(A::persistent | A::no_auto_release | A::no_writers));
  EXPECT_EQ(vss::to_raw(snapshot_context::app_rollback), raw(A::persistent | A::no_auto_release));
  EXPECT_EQ(vss::to_raw(snapshot_context::client_accessible),
            raw(A::persistent | A::client_accessible | A::no_auto_release | A::no_writers));
  EXPECT_EQ(vss::to_raw(snapshot_context::client_accessible_writers),
            raw(A::persistent | A::client_accessible | A::no_auto_release));
}

// Spec §11.5 table: writers involved / persistent / auto-release.
TEST(SnapshotContext, PredicatesFollowTheContextTable) {
  struct row {
    snapshot_context ctx;
    bool writers, persistent, auto_release;
  };
  const row rows[] = {
      {snapshot_context::backup, true, false, true},
      {snapshot_context::file_share_backup, false, false, true},
      {snapshot_context::nas_rollback, false, true, false},
      {snapshot_context::app_rollback, true, true, false},
      {snapshot_context::client_accessible, false, true, false},
      {snapshot_context::client_accessible_writers, true, true, false},
  };
  for (const row& r : rows) {
    const std::uint32_t ctx = vss::to_raw(r.ctx);
    EXPECT_EQ(vss::context_involves_writers(ctx), r.writers) << r.ctx;
    EXPECT_EQ(vss::context_is_persistent(ctx), r.persistent) << r.ctx;
    EXPECT_EQ(vss::context_auto_release(ctx), r.auto_release) << r.ctx;
    // Requester modifiers change none of the three.
    const std::uint32_t modified = ctx | 0x20 | 0x20000;
    EXPECT_EQ(vss::context_involves_writers(modified), r.writers) << r.ctx;
    EXPECT_EQ(vss::context_is_persistent(modified), r.persistent) << r.ctx;
    EXPECT_EQ(vss::context_auto_release(modified), r.auto_release) << r.ctx;
  }
  static_assert(vss::context_involves_writers(0x0));
  static_assert(!vss::context_auto_release(0x9));
}

TEST(SnapshotContext, BaseAndModifiersSplitARawContext) {
  const std::uint32_t ctx = 0x9 | 0x20 | 0x800000;
  EXPECT_EQ(vss::context_base(ctx), 0x9u);
  EXPECT_EQ(vss::context_modifiers(ctx),
            volume_attributes::transportable | volume_attributes::rollback_recovery);
  EXPECT_EQ(vss::context_base(0xFFFFFFFFu), 0xFFFFFFFFu);
  EXPECT_EQ(vss::context_modifiers(0xFFFFFFFFu), volume_attributes::none);
}

TEST(SnapshotContext, ModifiedContextsPrintBaseAndModifiers) {
  EXPECT_EQ(printed(static_cast<snapshot_context>(0x20)),
            "VSS_CTX_BACKUP|VSS_VOLSNAP_ATTR_TRANSPORTABLE");
  EXPECT_EQ(printed(static_cast<snapshot_context>(0x9 | 0x20000)),
            "VSS_CTX_APP_ROLLBACK|VSS_VOLSNAP_ATTR_DIFFERENTIAL");
  EXPECT_EQ(printed(static_cast<snapshot_context>(0x40)), "snapshot_context(0x00000040)");
  EXPECT_EQ(vss::to_string(static_cast<snapshot_context>(0x20)), "");
}

TEST(ValidateContext, AcceptsEveryNamedContextIncludingAll) {
  for (const auto& e : k_snapshot_contexts) {
    const std::error_code ec = vss::validate_context(static_cast<std::uint32_t>(e.number));
    EXPECT_FALSE(ec) << e.symbol << ": " << ec.message();
    EXPECT_EQ(ec, vss::errc::ok) << e.symbol;
  }
}

TEST(ValidateContext, AcceptsRequesterSettableModifiers) {
  using A = volume_attributes;
  auto raw = [](A a) { return static_cast<std::uint32_t>(a); };
  const std::uint32_t accepted[] = {
      raw(A::transportable),
      raw(A::differential),
      raw(A::plex),
      raw(A::transportable | A::differential),
      raw(A::transportable | A::plex),
      raw(A::no_autorecovery),
      raw(A::not_transacted),
      raw(A::rollback_recovery),
      raw(A::txf_recovery),
      0x9 | raw(A::no_autorecovery | A::not_transacted | A::rollback_recovery | A::txf_recovery),
      0x10 | raw(A::transportable),
      0x19 | raw(A::differential),
      raw(vss::requester_settable_attributes & ~A::plex),
  };
  for (std::uint32_t ctx : accepted) {
    EXPECT_EQ(vss::validate_context(ctx), vss::errc::ok) << static_cast<snapshot_context>(ctx);
  }
}

TEST(ValidateContext, RejectsInvalidCombinationsWithInvalidArg) {
  using A = volume_attributes;
  auto raw = [](A a) { return static_cast<std::uint32_t>(a); };
  const std::uint32_t rejected[] = {
      // DIFFERENTIAL and PLEX are mutually exclusive.
      raw(A::differential | A::plex),
      0x9 | raw(A::transportable | A::differential | A::plex),
      // Nothing may modify CLIENT_ACCESSIBLE(_WRITERS).
      0x1D | raw(A::transportable),
      0x1D | raw(A::no_autorecovery),
      0xD | raw(A::differential),
      0xD | raw(A::txf_recovery),
      // System-only bits on their own or on top of a base.
      raw(A::persistent),
      raw(A::client_accessible),
      raw(A::no_auto_release),
      raw(A::not_surfaced),
      raw(A::hardware_assisted),
      raw(A::imported),
      raw(A::exposed_locally),
      raw(A::exposed_remotely),
      raw(A::autorecover),
      raw(A::delayed_postsnapshot),
      raw(A::file_share),
      0x10 | raw(A::persistent),
      0x9 | raw(A::not_surfaced),
      // Bits without a name.
      0x8000,
      0x80000000u,
      0xFFFFFFFEu,
  };
  for (std::uint32_t ctx : rejected) {
    EXPECT_EQ(vss::validate_context(ctx), vss::errc::invalid_arg)
        << static_cast<snapshot_context>(ctx);
  }
}

TEST(ParseBackupType, AcceptsNamesAndSymbolsInAnyCase) {
  for (const auto& e : k_backup_types) {
    EXPECT_EQ(vss::parse_backup_type(e.symbol), e.value) << e.symbol;
  }
  EXPECT_EQ(vss::parse_backup_type("full"), backup_type::full);
  EXPECT_EQ(vss::parse_backup_type("FULL"), backup_type::full);
  EXPECT_EQ(vss::parse_backup_type("vss_bt_full"), backup_type::full);
  EXPECT_EQ(vss::parse_backup_type("Incremental"), backup_type::incremental);
  EXPECT_EQ(vss::parse_backup_type("copy"), backup_type::copy);
  EXPECT_EQ(vss::parse_backup_type("log"), backup_type::log);
}

TEST(ParseBackupType, RejectsAnythingElse) {
  for (std::string_view bad : {"", "ful", "fulll", " full", "VSS_BT_", "1", "VSS_APP_FULL"}) {
    EXPECT_EQ(vss::parse_backup_type(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseApplicationLevel, AcceptsNamesDashesAndSymbols) {
  for (const auto& e : k_application_levels) {
    EXPECT_EQ(vss::parse_application_level(e.symbol), e.value) << e.symbol;
  }
  EXPECT_EQ(vss::parse_application_level("front_end"), application_level::front_end);
  EXPECT_EQ(vss::parse_application_level("front-end"), application_level::front_end);
  EXPECT_EQ(vss::parse_application_level("Front-End"), application_level::front_end);
  EXPECT_EQ(vss::parse_application_level("vss_app_front_end"), application_level::front_end);
  EXPECT_EQ(vss::parse_application_level("back_end"), application_level::back_end);
  EXPECT_EQ(vss::parse_application_level("system"), application_level::system);
  EXPECT_EQ(vss::parse_application_level("system-rm"), application_level::system_rm);
  EXPECT_EQ(vss::parse_application_level("auto"), application_level::auto_level);
  EXPECT_EQ(vss::parse_application_level("auto_level"), application_level::auto_level);
  EXPECT_EQ(vss::parse_application_level("unknown"), application_level::unknown);
}

TEST(ParseApplicationLevel, RejectsAnythingElse) {
  for (std::string_view bad : {"", "frontend", "front end", "front_end_", "-1", "VSS_BT_FULL"}) {
    EXPECT_EQ(vss::parse_application_level(bad), std::nullopt) << '"' << bad << '"';
  }
}

}  // namespace
