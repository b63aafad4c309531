#include "providers/posix_errors.hpp"

#include <cerrno>
#include <cstring>

#include "vss/error.hpp"

namespace vss::providers {

std::error_code provider_error_from_errno(int err) noexcept {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return errc::insufficient_storage;
    case EACCES:
    case EPERM:
    case EROFS:
      return errc::access_denied;
    case ENOENT:
    case ENOTDIR:
      return errc::object_not_found;
    case ENOMEM:
      return errc::out_of_memory;
    case EXDEV:
    case EOPNOTSUPP:
    case ENOTTY:
    case EINVAL:
      return errc::volume_not_supported_by_provider;
    default:
      return errc::provider_veto;
  }
}

std::string describe_errno(std::string_view what, int err) {
  std::string out(what);
  out += ": ";
  out += std::strerror(err);
  if (const char* name = strerrorname_np(err)) {
    out += " (";
    out += name;
    out += ')';
  }
  return out;
}

}  // namespace vss::providers
