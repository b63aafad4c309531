#include "daemon/provider_setup.hpp"

#include <algorithm>
#include <regex>
#include <stdexcept>
#include <utility>

#include "vss/memory_provider.hpp"
#include "vss/providers/btrfs_provider.hpp"
#include "vss/providers/command_provider.hpp"
#include "vss/providers/reflink_provider.hpp"

namespace vss::daemon {

namespace {

std::function<void(std::string)> prefixed(const std::function<void(std::string)>& log,
                                          provider_kind kind) {
  if (!log) return {};
  return [log, prefix = std::string(to_string(kind)) + " provider: "](std::string line) {
    log(prefix + line);
  };
}

std::shared_ptr<provider> make_command_provider(const daemon_config& config,
                                                std::function<void(std::string)> log) {
  // The same checks as the constructor, with messages that name the config keys.
  if (config.command_create.empty() || config.command_remove.empty()) {
    throw std::invalid_argument(
        "providers lists command, which needs command_create and command_remove");
  }
  if (config.command_timeout.count() <= 0) {
    throw std::invalid_argument("command_timeout_ms must be positive, not " +
                                std::to_string(config.command_timeout.count()));
  }
  command_provider_options options;
  options.id = command_provider_id;
  options.create = config.command_create;
  options.remove = config.command_remove;
  if (!config.command_list.empty()) options.list = config.command_list;
  options.timeout = config.command_timeout;
  options.device_template = config.command_device;
  options.hold = config.command_hold;
  options.supports = config.command_supports;
  options.log = std::move(log);
  try {
    return std::make_shared<command_provider>(std::move(options));
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("command_supports '" + config.command_supports +
                                "' is not an ECMAScript regular expression: " + e.what());
  }
}

}  // namespace

provider_id fixed_provider_id(provider_kind kind) noexcept {
  switch (kind) {
    case provider_kind::btrfs:
      return btrfs_provider_id;
    case provider_kind::reflink:
      return reflink_provider_id;
    case provider_kind::command:
      return command_provider_id;
    case provider_kind::memory:
      return memory_provider_id;
  }
  return provider_id::null();
}

std::optional<provider_kind> provider_kind_of(const provider_id& id) noexcept {
  for (const provider_kind kind : {provider_kind::btrfs, provider_kind::reflink,
                                   provider_kind::command, provider_kind::memory}) {
    if (fixed_provider_id(kind) == id) return kind;
  }
  return std::nullopt;
}

std::vector<std::shared_ptr<provider>> make_providers(const daemon_config& config,
                                                      std::function<void(std::string)> log) {
  if (config.providers.empty()) {
    throw std::invalid_argument("providers is empty: the daemon needs at least one provider");
  }
  std::vector<std::shared_ptr<provider>> out;
  for (auto it = config.providers.begin(); it != config.providers.end(); ++it) {
    const provider_kind kind = *it;
    // Two providers with one fixed id: the engine would refuse to register the second.
    if (std::find(config.providers.begin(), it, kind) != it) {
      throw std::invalid_argument("providers lists " + std::string(to_string(kind)) + " twice");
    }
    switch (kind) {
      case provider_kind::btrfs: {
        btrfs_provider_options options;
        options.id = btrfs_provider_id;
        options.snapshot_dir = config.btrfs_snapshot_dir;
        options.log = prefixed(log, kind);
        out.push_back(std::make_shared<btrfs_provider>(std::move(options)));
        break;
      }
      case provider_kind::reflink: {
        reflink_provider_options options;
        options.id = reflink_provider_id;
        options.snapshot_root = config.reflink_snapshot_root;
        options.log = prefixed(log, kind);
        out.push_back(std::make_shared<reflink_provider>(std::move(options)));
        break;
      }
      case provider_kind::command:
        out.push_back(make_command_provider(config, prefixed(log, kind)));
        break;
      case provider_kind::memory: {
        memory_provider_options options;
        options.id = memory_provider_id;
        out.push_back(std::make_shared<memory_provider>(std::move(options)));
        break;
      }
      default:
        throw std::invalid_argument("providers lists an unknown provider kind " +
                                    std::to_string(static_cast<int>(kind)));
    }
  }
  return out;
}

}  // namespace vss::daemon
