#pragma once
// How a failed system call inside a provider becomes a VSS result (spec §11.3): the codes a
// provider may return are few, and a requester decides on them (retry later, free space, fix
// permissions), so the mapping is shared by every filesystem provider.

#include <string>
#include <string_view>
#include <system_error>

namespace vss::providers {

/// The spec §11.3 code for errno `err`:
///   ENOSPC, EDQUOT          -> VSS_E_INSUFFICIENT_STORAGE
///   EACCES, EPERM, EROFS    -> E_ACCESSDENIED
///   ENOENT, ENOTDIR         -> VSS_E_OBJECT_NOT_FOUND (the source vanished)
///   ENOMEM                  -> E_OUTOFMEMORY
///   EXDEV, EOPNOTSUPP,
///   ENOTTY, EINVAL (ioctl)  -> VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER
///   anything else           -> VSS_E_PROVIDER_VETO
std::error_code provider_error_from_errno(int err) noexcept;

/// "<what>: <strerror(err)> (<errno name>)", for logs and status messages.
std::string describe_errno(std::string_view what, int err);

}  // namespace vss::providers
