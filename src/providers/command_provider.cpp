#include "vss/providers/command_provider.hpp"

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "exec_writer/command_runner.hpp"
#include "providers/serial_worker.hpp"
#include "vss/error.hpp"

namespace vss {
namespace {

using providers::serial_worker;

// The values of the placeholders for one command.
struct placeholders {
  std::string volume;
  std::string snapshot_id;
  std::string set_id;
  std::string name;
  std::string device;

  const std::string* find(std::string_view key) const {
    if (key == "volume") return &volume;
    if (key == "snapshot_id") return &snapshot_id;
    if (key == "set_id") return &set_id;
    if (key == "name") return &name;
    if (key == "device") return &device;
    return nullptr;
  }
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Values are inserted as they are and never scanned again: a braced snapshot id stays intact.
std::string expand(std::string_view text, const placeholders& values, bool quote) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const auto close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        if (const std::string* v = values.find(text.substr(i + 1, close - i - 1))) {
          out += quote ? shell_quote(*v) : *v;
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

std::vector<std::string> command_line(const command_template& t, const placeholders& values) {
  if (!t.argv.empty()) {
    std::vector<std::string> argv;
    for (const auto& a : t.argv) argv.push_back(expand(a, values, false));
    return argv;
  }
  return {"/bin/sh", "-c", expand(t.shell, values, true)};
}

std::string printable(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool contains_word(std::string_view text, std::string_view word) {
  for (auto at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const bool start_ok = at == 0 || !is_name_char(text[at - 1]);
    const auto end = at + word.size();
    const bool end_ok = end == text.size() || !is_name_char(text[end]);
    if (start_ok && end_ok) return true;
  }
  return false;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// How one command ended, as a VSS result.
struct outcome {
  std::error_code ec;
  int exit_code = -1;  // -1: no exit status (signal, timeout, could not run)
  std::string why;     // for last_error and the log; empty on success
  std::string output;
};

}  // namespace

struct command_provider::impl {
  struct record {
    snapshot_properties props;
    std::string name;
    bool made = false;
  };
  struct set_info {
    std::vector<snapshot_id> order;  // begin_prepare_snapshot order
    std::string last_error;
  };

  explicit impl(command_provider_options o) : options(std::move(o)) {
    if (options.create.empty()) throw std::invalid_argument("command_provider: no create command");
    if (options.remove.empty()) throw std::invalid_argument("command_provider: no remove command");
    if (options.timeout <= std::chrono::milliseconds::zero()) {
      throw std::invalid_argument("command_provider: the timeout must be positive");
    }
    if (!options.supports.empty()) supports = std::regex(options.supports);
  }

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  placeholders values_of(const record& r) const {
    placeholders v{r.props.original_volume, r.props.id.to_string(),
                   r.props.set_id.is_null() ? std::string() : r.props.set_id.to_string(), r.name,
                   r.props.device};
    return v;
  }

  outcome run(const char* action, const command_template& t, const placeholders& v) const {
    const auto argv = command_line(t, v);
    exec::run_options ro;
    ro.env = {"OPENVSS_ACTION=" + std::string(action),
              "OPENVSS_VOLUME=" + v.volume,
              "OPENVSS_SNAPSHOT_ID=" + v.snapshot_id,
              "OPENVSS_SET_ID=" + v.set_id,
              "OPENVSS_NAME=" + v.name,
              "OPENVSS_DEVICE=" + v.device};
    outcome o;
    exec::command_result r;
    try {
      r = exec::run_command(argv, options.timeout, ro);
    } catch (const std::exception& e) {
      o.ec = errc::provider_veto;
      o.why = std::string(action) + " command could not run: " + e.what();
      log(o.why);
      return o;
    }
    o.output = r.output;
    std::string how;
    if (r.timed_out) {
      how = "timed out after " + std::to_string(options.timeout.count()) + " ms";
      o.ec = errc::provider_veto;
    } else if (r.signal != 0) {
      how = "killed by signal " + std::to_string(r.signal);
      o.ec = errc::provider_veto;
    } else {
      o.exit_code = r.exit_code;
      how = "exit " + std::to_string(r.exit_code);
      switch (r.exit_code) {
        case 0:
          break;
        case 28:  // ENOSPC
          o.ec = errc::insufficient_storage;
          break;
        case 13:  // EACCES
          o.ec = errc::access_denied;
          break;
        case 2:  // ENOENT
          o.ec = errc::object_not_found;
          break;
        default:
          o.ec = errc::provider_veto;
      }
    }
    log(std::string(action) + ": " + printable(argv) + " -> " + how + " (" +
        std::to_string(r.duration.count()) + " ms)");
    if (o.ec) {
      o.why = std::string(action) + " of " + (v.volume.empty() ? v.name : v.volume) + " failed (" +
              how + "): " + printable(argv);
      if (!r.output.empty()) o.why += "\n" + r.output;
      if (!r.output.empty()) log(r.output);
    }
    return o;
  }

  // `remove` for one snapshot; exit 2 (already gone) counts as success.
  outcome remove(const record& r) const {
    outcome o = run("delete", options.remove, values_of(r));
    if (o.exit_code == 2) o.ec = {};
    return o;
  }

  void note(const snapshot_set_id& set, const std::string& why) {
    std::lock_guard lock(mutex);
    sets[set].last_error = why;
  }

  std::error_code records_in(const snapshot_set_id& set, snapshot_state from,
                             std::vector<record>& out) const {
    std::lock_guard lock(mutex);
    out.clear();
    auto it = sets.find(set);
    if (it == sets.end() || it->second.order.empty()) return errc::bad_state;
    for (const auto& id : it->second.order) {
      const auto& r = snapshots.at(id);
      if (r.props.state != from) return errc::bad_state;
      out.push_back(r);
    }
    return {};
  }

  std::error_code advance(const snapshot_set_id& set, snapshot_state from, snapshot_state to,
                          std::int32_t count) {
    std::lock_guard lock(mutex);
    auto it = sets.find(set);
    if (it == sets.end() || it->second.order.empty()) return errc::bad_state;
    for (const auto& id : it->second.order) {
      if (snapshots.at(id).props.state != from) return errc::bad_state;
    }
    for (const auto& id : it->second.order) {
      auto& p = snapshots.at(id).props;
      p.state = to;
      if (count > 0) p.snapshots_count = count;
    }
    return {};
  }

  std::error_code commit(const snapshot_set_id& set) {
    std::vector<record> recs;
    if (auto ec = records_in(set, snapshot_state::precommitted, recs)) return ec;
    for (std::size_t i = 0; i < recs.size(); ++i) {
      outcome o = run("create", options.create, values_of(recs[i]));
      if (!o.ec) continue;
      // Partial results go: the set is all or nothing.
      std::string why = o.why;
      for (std::size_t j = i; j-- > 0;) {
        outcome d = remove(recs[j]);
        if (d.ec) why += "\nrollback: " + d.why;
      }
      note(set, why);
      return o.ec;
    }
    const auto now = std::chrono::system_clock::now();
    std::lock_guard lock(mutex);
    auto& info = sets[set];
    for (const auto& id : info.order) {
      auto& r = snapshots.at(id);
      r.made = true;
      r.props.state = snapshot_state::committed;
      r.props.created = now;
      r.props.snapshots_count = static_cast<std::int32_t>(info.order.size());
    }
    return {};
  }

  std::error_code abort(const snapshot_set_id& set) {
    std::vector<record> recs;
    {
      std::lock_guard lock(mutex);
      auto it = sets.find(set);
      if (it == sets.end()) return {};
      for (const auto& id : it->second.order) {
        recs.push_back(snapshots.at(id));
        snapshots.erase(id);
      }
      it->second.order.clear();
    }
    std::error_code first;
    for (auto it = recs.rbegin(); it != recs.rend(); ++it) {
      if (!it->made) continue;
      outcome o = remove(*it);
      if (o.ec) {
        note(set, "abort: " + o.why);
        if (!first) first = o.ec;
      }
    }
    return first;
  }

  void forget(const snapshot_id& id, const snapshot_set_id& set) {
    snapshots.erase(id);
    auto it = sets.find(set);
    if (it == sets.end()) return;
    std::erase(it->second.order, id);
    if (it->second.order.empty() && it->second.last_error.empty()) sets.erase(it);
  }

  std::error_code list(std::string_view volume, std::string& output, std::string& why) const {
    if (options.list.empty()) return errc::not_supported;
    placeholders v;
    v.volume = std::string(volume);
    outcome o = run("list", options.list, v);
    output = std::move(o.output);
    why = std::move(o.why);
    return o.ec;
  }

  command_provider_options options;
  std::optional<std::regex> supports;
  mutable std::mutex mutex;
  std::map<snapshot_id, record> snapshots;
  std::map<snapshot_set_id, set_info> sets;
  serial_worker worker;  // last: destroyed first, while the state its steps use still exists
};

command_provider::command_provider(command_provider_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

command_provider::~command_provider() = default;

provider_properties command_provider::properties() const {
  return {impl_->options.id, impl_->options.name, provider_type::software, "1.0"};
}

bool command_provider::is_volume_supported(std::string_view volume) const {
  if (volume.empty()) return false;
  if (!impl_->supports) return true;
  return std::regex_match(volume.begin(), volume.end(), *impl_->supports);
}

std::error_code command_provider::begin_prepare_snapshot(const snapshot_set_id& set,
                                                         const snapshot_id& snapshot,
                                                         std::string_view volume,
                                                         std::uint32_t context) {
  if (!is_volume_supported(volume)) return errc::volume_not_supported_by_provider;
  impl::record r;
  r.name = snapshot_name(snapshot);
  auto& p = r.props;
  p.id = snapshot;
  p.set_id = set;
  p.original_volume = std::string(volume);
  p.device = expand(impl_->options.device_template, impl_->values_of(r), false);
  p.originating_machine = p.service_machine = host_name();
  p.provider = impl_->options.id;
  p.attributes = context;
  if (impl_->options.exposed_locally) {
    p.attributes |= static_cast<std::uint32_t>(volume_attributes::exposed_locally);
  }
  p.state = snapshot_state::preparing;

  std::lock_guard lock(impl_->mutex);
  if (impl_->snapshots.count(snapshot)) return errc::object_already_exists;
  auto& info = impl_->sets[set];
  for (const auto& id : info.order) {
    if (impl_->snapshots.at(id).props.original_volume == volume) {
      return errc::object_already_exists;
    }
  }
  info.order.push_back(snapshot);
  impl_->snapshots.emplace(snapshot, std::move(r));
  return {};
}

void command_provider::end_prepare_snapshots(const snapshot_set_id& set, completion done) {
  done(impl_->advance(set, snapshot_state::preparing, snapshot_state::prepared, 0));
}

void command_provider::pre_commit_snapshots(const snapshot_set_id& set, completion done) {
  done(impl_->advance(set, snapshot_state::prepared, snapshot_state::precommitted, 0));
}

void command_provider::commit_snapshots(const snapshot_set_id& set, completion done) {
  impl_->worker.post([this, set, done = std::move(done)] { done(impl_->commit(set)); });
}

void command_provider::post_commit_snapshots(const snapshot_set_id& set,
                                             std::int32_t snapshots_count, completion done) {
  done(impl_->advance(set, snapshot_state::committed, snapshot_state::postcommitted,
                      snapshots_count));
}

void command_provider::post_final_commit_snapshots(const snapshot_set_id& set, completion done) {
  done(impl_->advance(set, snapshot_state::postcommitted, snapshot_state::created, 0));
}

void command_provider::abort_snapshots(const snapshot_set_id& set, completion done) {
  impl_->worker.post([this, set, done = std::move(done)] { done(impl_->abort(set)); });
}

std::error_code command_provider::get_snapshot_properties(const snapshot_id& id,
                                                          snapshot_properties& out) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->snapshots.find(id);
  if (it == impl_->snapshots.end() || it->second.props.state != snapshot_state::created) {
    return errc::object_not_found;
  }
  out = it->second.props;
  return {};
}

std::vector<snapshot_properties> command_provider::query() const {
  std::vector<snapshot_properties> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [id, r] : impl_->snapshots) {
    if (r.props.state == snapshot_state::created) out.push_back(r.props);
  }
  return out;
}

std::error_code command_provider::delete_snapshot(const snapshot_id& id) {
  impl::record r;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->snapshots.find(id);
    if (it == impl_->snapshots.end()) return errc::object_not_found;
    if (it->second.props.state != snapshot_state::created) return errc::bad_state;
    // Taken out while the command runs, so that a concurrent delete of the same id is not found.
    r = std::move(it->second);
    impl_->snapshots.erase(it);
  }
  outcome o = impl_->remove(r);
  std::lock_guard lock(impl_->mutex);
  if (o.ec) {
    impl_->sets[r.props.set_id].last_error = o.why;
    impl_->snapshots.emplace(id, std::move(r));
    return o.ec;
  }
  impl_->forget(id, r.props.set_id);
  return {};
}

std::vector<std::string> command_provider::flush_and_hold_paths(const snapshot_set_id& set) const {
  std::vector<std::string> out;
  if (!impl_->options.hold) return out;
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->sets.find(set);
  if (it == impl_->sets.end()) return out;
  for (const auto& id : it->second.order) {
    out.push_back(impl_->snapshots.at(id).props.original_volume);
  }
  return out;
}

std::error_code command_provider::adopt_snapshot(const snapshot_properties& snapshot) {
  if (impl_->options.list.empty()) return errc::not_supported;
  if (snapshot.id.is_null() || snapshot.original_volume.empty()) return errc::invalid_arg;
  impl::record r;
  r.name = snapshot_name(snapshot.id);
  r.made = true;
  r.props = snapshot;
  r.props.provider = impl_->options.id;
  r.props.state = snapshot_state::created;
  if (r.props.device.empty()) {
    r.props.device = expand(impl_->options.device_template, impl_->values_of(r), false);
  }
  if (impl_->options.exposed_locally) {
    r.props.attributes |= static_cast<std::uint32_t>(volume_attributes::exposed_locally);
  }
  std::string output;
  std::string why;
  if (auto ec = impl_->list(snapshot.original_volume, output, why)) {
    impl_->note(snapshot.set_id, "adopt: " + why);
    return ec;
  }
  if (!contains_word(output, r.name)) {
    impl_->log("adopt: " + r.name + " is not listed for " + snapshot.original_volume);
    return errc::object_not_found;
  }
  std::lock_guard lock(impl_->mutex);
  if (impl_->snapshots.count(snapshot.id)) return {};
  impl_->sets[snapshot.set_id].order.push_back(snapshot.id);
  impl_->snapshots.emplace(snapshot.id, std::move(r));
  return {};
}

std::error_code command_provider::discard_snapshot(const snapshot_id& id, std::string_view volume) {
  impl::record r;
  r.name = snapshot_name(id);
  r.props.id = id;
  r.props.original_volume = std::string(volume);
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->snapshots.count(id)) return errc::bad_state;
  }
  r.props.device = expand(impl_->options.device_template, impl_->values_of(r), false);
  if (!impl_->options.list.empty()) {
    std::string output;
    std::string why;
    if (auto ec = impl_->list(volume, output, why)) return ec;
    if (!contains_word(output, r.name)) return {};
  }
  outcome o = impl_->remove(r);
  return o.ec;
}

std::error_code command_provider::list(std::string_view volume,
                                       std::vector<std::string>& lines) const {
  lines.clear();
  std::string output;
  std::string why;
  if (auto ec = impl_->list(volume, output, why)) return ec;
  std::size_t start = 0;
  while (start <= output.size()) {
    auto end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    start = end + 1;
  }
  return {};
}

std::string command_provider::snapshot_name(const snapshot_id& id) {
  // The text form is "{xxxxxxxx-...": its first 8 hex digits follow the brace.
  return "openvss-" + id.to_string().substr(1, 8);
}

std::string command_provider::last_error(const snapshot_set_id& set) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->sets.find(set);
  return it == impl_->sets.end() ? std::string() : it->second.last_error;
}

}  // namespace vss
