#include "vss/types.hpp"

#include <array>
#include <cstdio>
#include <ostream>
#include <string>
#include <utility>

namespace vss {
namespace {

// Name tables are indexed by enumerator value; every enum below is dense from its first value.
template <class Enum, std::size_t N>
std::string_view lookup(const std::array<std::string_view, N>& names, Enum v,
                        int first = 0) noexcept {
  const auto i = static_cast<long long>(v) - first;
  if (i < 0 || i >= static_cast<long long>(N)) return {};
  return names[static_cast<std::size_t>(i)];
}

constexpr std::array<std::string_view, 17> k_writer_state = {
    "VSS_WS_UNKNOWN",
    "VSS_WS_STABLE",
    "VSS_WS_WAITING_FOR_FREEZE",
    "VSS_WS_WAITING_FOR_THAW",
    "VSS_WS_WAITING_FOR_POST_SNAPSHOT",
    "VSS_WS_WAITING_FOR_BACKUP_COMPLETE",
    "VSS_WS_FAILED_AT_IDENTIFY",
    "VSS_WS_FAILED_AT_PREPARE_BACKUP",
    "VSS_WS_FAILED_AT_PREPARE_SNAPSHOT",
    "VSS_WS_FAILED_AT_FREEZE",
    "VSS_WS_FAILED_AT_THAW",
    "VSS_WS_FAILED_AT_POST_SNAPSHOT",
    "VSS_WS_FAILED_AT_BACKUP_COMPLETE",
    "VSS_WS_FAILED_AT_PRE_RESTORE",
    "VSS_WS_FAILED_AT_POST_RESTORE",
    "VSS_WS_FAILED_AT_BACKUPSHUTDOWN",
    "VSS_WS_COUNT",
};

constexpr std::array<std::string_view, 7> k_backup_type = {
    "VSS_BT_UNDEFINED", "VSS_BT_FULL", "VSS_BT_INCREMENTAL", "VSS_BT_DIFFERENTIAL",
    "VSS_BT_LOG",       "VSS_BT_COPY", "VSS_BT_OTHER",
};
constexpr std::array<std::string_view, 7> k_backup_type_names = {
    "undefined", "full", "incremental", "differential", "log", "copy", "other",
};

constexpr std::array<std::string_view, 5> k_usage_type = {
    "VSS_UT_UNDEFINED", "VSS_UT_BOOTABLESYSTEMSTATE", "VSS_UT_SYSTEMSERVICE", "VSS_UT_USERDATA",
    "VSS_UT_OTHER",
};

constexpr std::array<std::string_view, 4> k_source_type = {
    "VSS_ST_UNDEFINED",
    "VSS_ST_TRANSACTEDDB",
    "VSS_ST_NONTRANSACTEDDB",
    "VSS_ST_OTHER",
};

// Starts at VSS_APP_AUTO (-1).
constexpr std::array<std::string_view, 6> k_application_level = {
    "VSS_APP_AUTO",     "VSS_APP_UNKNOWN",   "VSS_APP_SYSTEM",
    "VSS_APP_BACK_END", "VSS_APP_FRONT_END", "VSS_APP_SYSTEM_RM",
};
constexpr std::array<std::string_view, 6> k_application_level_names = {
    "auto_level", "unknown", "system", "back_end", "front_end", "system_rm",
};

constexpr std::array<std::string_view, 17> k_snapshot_state = {
    "VSS_SS_UNKNOWN",
    "VSS_SS_PREPARING",
    "VSS_SS_PROCESSING_PREPARE",
    "VSS_SS_PREPARED",
    "VSS_SS_PROCESSING_PRECOMMIT",
    "VSS_SS_PRECOMMITTED",
    "VSS_SS_PROCESSING_COMMIT",
    "VSS_SS_COMMITTED",
    "VSS_SS_PROCESSING_POSTCOMMIT",
    "VSS_SS_PROCESSING_PREFINALCOMMIT",
    "VSS_SS_PREFINALCOMMITTED",
    "VSS_SS_PROCESSING_POSTFINALCOMMIT",
    "VSS_SS_CREATED",
    "VSS_SS_ABORTED",
    "VSS_SS_DELETED",
    "VSS_SS_POSTCOMMITTED",
    "VSS_SS_COUNT",
};

constexpr std::array<std::string_view, 6> k_object_type = {
    "VSS_OBJECT_UNKNOWN",  "VSS_OBJECT_NONE",     "VSS_OBJECT_SNAPSHOT_SET",
    "VSS_OBJECT_SNAPSHOT", "VSS_OBJECT_PROVIDER", "VSS_OBJECT_TYPE_COUNT",
};

constexpr std::array<std::string_view, 3> k_component_type = {
    "VSS_CT_UNDEFINED",
    "VSS_CT_DATABASE",
    "VSS_CT_FILEGROUP",
};

constexpr std::array<std::string_view, 5> k_provider_type = {
    "VSS_PROV_UNKNOWN",  "VSS_PROV_SYSTEM",    "VSS_PROV_SOFTWARE",
    "VSS_PROV_HARDWARE", "VSS_PROV_FILESHARE",
};

constexpr std::pair<volume_attributes, std::string_view> k_volume_attributes[] = {
    {volume_attributes::persistent, "VSS_VOLSNAP_ATTR_PERSISTENT"},
    {volume_attributes::no_autorecovery, "VSS_VOLSNAP_ATTR_NO_AUTORECOVERY"},
    {volume_attributes::client_accessible, "VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE"},
    {volume_attributes::no_auto_release, "VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE"},
    {volume_attributes::no_writers, "VSS_VOLSNAP_ATTR_NO_WRITERS"},
    {volume_attributes::transportable, "VSS_VOLSNAP_ATTR_TRANSPORTABLE"},
    {volume_attributes::not_surfaced, "VSS_VOLSNAP_ATTR_NOT_SURFACED"},
    {volume_attributes::not_transacted, "VSS_VOLSNAP_ATTR_NOT_TRANSACTED"},
    {volume_attributes::hardware_assisted, "VSS_VOLSNAP_ATTR_HARDWARE_ASSISTED"},
    {volume_attributes::differential, "VSS_VOLSNAP_ATTR_DIFFERENTIAL"},
    {volume_attributes::plex, "VSS_VOLSNAP_ATTR_PLEX"},
    {volume_attributes::imported, "VSS_VOLSNAP_ATTR_IMPORTED"},
    {volume_attributes::exposed_locally, "VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY"},
    {volume_attributes::exposed_remotely, "VSS_VOLSNAP_ATTR_EXPOSED_REMOTELY"},
    {volume_attributes::autorecover, "VSS_VOLSNAP_ATTR_AUTORECOVER"},
    {volume_attributes::rollback_recovery, "VSS_VOLSNAP_ATTR_ROLLBACK_RECOVERY"},
    {volume_attributes::delayed_postsnapshot, "VSS_VOLSNAP_ATTR_DELAYED_POSTSNAPSHOT"},
    {volume_attributes::txf_recovery, "VSS_VOLSNAP_ATTR_TXF_RECOVERY"},
    {volume_attributes::file_share, "VSS_VOLSNAP_ATTR_FILE_SHARE"},
};

constexpr std::pair<snapshot_context, std::string_view> k_snapshot_context[] = {
    {snapshot_context::backup, "VSS_CTX_BACKUP"},
    {snapshot_context::file_share_backup, "VSS_CTX_FILE_SHARE_BACKUP"},
    {snapshot_context::nas_rollback, "VSS_CTX_NAS_ROLLBACK"},
    {snapshot_context::app_rollback, "VSS_CTX_APP_ROLLBACK"},
    {snapshot_context::client_accessible, "VSS_CTX_CLIENT_ACCESSIBLE"},
    {snapshot_context::client_accessible_writers, "VSS_CTX_CLIENT_ACCESSIBLE_WRITERS"},
    {snapshot_context::all, "VSS_CTX_ALL"},
};

char fold(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (c == '-') return '_';
  return c;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

template <class Enum, std::size_t N>
std::optional<Enum> parse_enum(std::string_view s, const std::array<std::string_view, N>& symbols,
                               const std::array<std::string_view, N>& names, int first) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (iequal(s, symbols[i]) || iequal(s, names[i])) {
      return static_cast<Enum>(static_cast<int>(i) + first);
    }
  }
  return std::nullopt;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

template <class Enum>
std::ostream& print(std::ostream& os, std::string_view name, const char* type, Enum v) {
  if (!name.empty()) return os << name;
  return os << type << '(' << static_cast<long long>(v) << ')';
}

// Prints the named bits of `bits` joined by '|', then any unnamed rest as one hex value.
void print_bits(std::ostream& os, std::uint32_t bits, bool first) {
  for (const auto& [flag, name] : k_volume_attributes) {
    const auto f = static_cast<std::uint32_t>(flag);
    if ((bits & f) == 0) continue;
    os << (first ? "" : "|") << name;
    first = false;
    bits &= ~f;
  }
  if (bits != 0) os << (first ? "" : "|") << hex32(bits);
}

bool is_named_base(std::uint32_t base) noexcept {
  for (const auto& [ctx, name] : k_snapshot_context) {
    if (ctx != snapshot_context::all && to_raw(ctx) == base) return true;
  }
  return false;
}

}  // namespace

std::error_code validate_context(std::uint32_t ctx) noexcept {
  if (ctx == to_raw(snapshot_context::all)) return errc::ok;
  const std::uint32_t base = context_base(ctx);
  const volume_attributes mods = context_modifiers(ctx);
  if (!is_named_base(base)) return errc::invalid_arg;
  if (any(mods & volume_attributes::differential) && any(mods & volume_attributes::plex)) {
    return errc::invalid_arg;
  }
  const bool client_accessible = base == to_raw(snapshot_context::client_accessible) ||
                                 base == to_raw(snapshot_context::client_accessible_writers);
  if (client_accessible && any(mods)) return errc::invalid_arg;
  return errc::ok;
}

std::string_view to_string(writer_state v) noexcept { return lookup(k_writer_state, v); }
std::string_view to_string(backup_type v) noexcept { return lookup(k_backup_type, v); }
std::string_view to_string(usage_type v) noexcept { return lookup(k_usage_type, v); }
std::string_view to_string(source_type v) noexcept { return lookup(k_source_type, v); }
std::string_view to_string(application_level v) noexcept {
  return lookup(k_application_level, v, -1);
}
std::string_view to_string(snapshot_state v) noexcept { return lookup(k_snapshot_state, v); }
std::string_view to_string(object_type v) noexcept { return lookup(k_object_type, v); }
std::string_view to_string(component_type v) noexcept { return lookup(k_component_type, v); }
std::string_view to_string(provider_type v) noexcept { return lookup(k_provider_type, v); }

std::string_view to_string(volume_attributes v) noexcept {
  for (const auto& [flag, name] : k_volume_attributes) {
    if (flag == v) return name;
  }
  return {};
}

std::string_view to_string(snapshot_context v) noexcept {
  for (const auto& [ctx, name] : k_snapshot_context) {
    if (ctx == v) return name;
  }
  return {};
}

std::ostream& operator<<(std::ostream& os, writer_state v) {
  return print(os, to_string(v), "writer_state", v);
}
std::ostream& operator<<(std::ostream& os, backup_type v) {
  return print(os, to_string(v), "backup_type", v);
}
std::ostream& operator<<(std::ostream& os, usage_type v) {
  return print(os, to_string(v), "usage_type", v);
}
std::ostream& operator<<(std::ostream& os, source_type v) {
  return print(os, to_string(v), "source_type", v);
}
std::ostream& operator<<(std::ostream& os, application_level v) {
  return print(os, to_string(v), "application_level", v);
}
std::ostream& operator<<(std::ostream& os, snapshot_state v) {
  return print(os, to_string(v), "snapshot_state", v);
}
std::ostream& operator<<(std::ostream& os, object_type v) {
  return print(os, to_string(v), "object_type", v);
}
std::ostream& operator<<(std::ostream& os, component_type v) {
  return print(os, to_string(v), "component_type", v);
}
std::ostream& operator<<(std::ostream& os, provider_type v) {
  return print(os, to_string(v), "provider_type", v);
}

std::ostream& operator<<(std::ostream& os, volume_attributes v) {
  if (!any(v)) return os << '0';
  print_bits(os, static_cast<std::uint32_t>(v), true);
  return os;
}

std::ostream& operator<<(std::ostream& os, snapshot_context v) {
  if (std::string_view name = to_string(v); !name.empty()) return os << name;
  const std::uint32_t raw = to_raw(v);
  const std::uint32_t base = context_base(raw);
  if (!is_named_base(base)) return os << "snapshot_context(" << hex32(raw) << ')';
  os << to_string(static_cast<snapshot_context>(base));
  print_bits(os, static_cast<std::uint32_t>(context_modifiers(raw)), false);
  return os;
}

std::optional<backup_type> parse_backup_type(std::string_view s) noexcept {
  return parse_enum<backup_type>(s, k_backup_type, k_backup_type_names, 0);
}

std::optional<application_level> parse_application_level(std::string_view s) noexcept {
  if (iequal(s, "auto")) return application_level::auto_level;
  return parse_enum<application_level>(s, k_application_level, k_application_level_names, -1);
}

}  // namespace vss
