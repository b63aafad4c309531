#pragma once
// Builds openvssd's snapshot providers from its config (keys `providers`, `btrfs_*`,
// `reflink_*`, `command_*`; contrib/openvssd.conf).
//
// Every provider the daemon builds has a fixed id, one per kind, so that the snapshot catalog,
// which records each snapshot's provider id, finds the same provider again after a restart
// (recovery offers created snapshots back through provider::adopt_snapshot). The ids are part
// of the daemon's on-disk contract: never change one. They read "openvss" in ASCII followed by
// the kind's number.
//
// Thread-safety: the functions are reentrant. make_providers starts the worker threads of the
// btrfs and command providers.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "vss/id.hpp"
#include "vss/provider.hpp"

namespace vss::daemon {

/// Id of the daemon's btrfs provider: {6f70656e-7673-7300-0000-000000000001}.
inline constexpr provider_id btrfs_provider_id =
    provider_id::from_u128(0x6f70656e'76737300, 0x0000'0000'0000'0001);
/// Id of the daemon's reflink provider: {6f70656e-7673-7300-0000-000000000002}.
inline constexpr provider_id reflink_provider_id =
    provider_id::from_u128(0x6f70656e'76737300, 0x0000'0000'0000'0002);
/// Id of the daemon's command provider: {6f70656e-7673-7300-0000-000000000003}.
inline constexpr provider_id command_provider_id =
    provider_id::from_u128(0x6f70656e'76737300, 0x0000'0000'0000'0003);
/// Id of the daemon's memory provider: {6f70656e-7673-7300-0000-000000000004}.
inline constexpr provider_id memory_provider_id =
    provider_id::from_u128(0x6f70656e'76737300, 0x0000'0000'0000'0004);

/// The fixed id of the daemon's provider of `kind` (one of the constants above).
provider_id fixed_provider_id(provider_kind kind) noexcept;

/// The kind whose fixed id is `id`; nullopt for any other id (a provider the daemon did not
/// build, or the null id of an automatic choice).
std::optional<provider_kind> provider_kind_of(const provider_id& id) noexcept;

/// Builds one provider per entry of `config.providers`, in that order (the order in which to
/// register them with the engine: its automatic choice takes, per volume, the first registered
/// provider that supports it). Each gets its fixed id, its class's default name ("openvss
/// btrfs provider", ...) and the options of its config keys. Their log lines go to `log`,
/// prefixed with "<kind> provider: "; `log` may be empty, and is called from the providers'
/// threads, concurrently. Throws std::invalid_argument naming the config key at fault when a
/// provider cannot be built: an empty or repeated provider list, command without
/// command_create or command_remove, a `command_supports` that is not an ECMAScript regular
/// expression, a non-positive command_timeout. parse_config rejects all of these already; the
/// checks matter for a config built in code.
std::vector<std::shared_ptr<provider>> make_providers(const daemon_config& config,
                                                      std::function<void(std::string)> log);

}  // namespace vss::daemon
