#include "vss/providers/reflink_provider.hpp"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "providers/posix_errors.hpp"
#include "providers/tree_copy.hpp"
#include "vss/error.hpp"

namespace vss {
namespace {

namespace fs = std::filesystem;
using providers::tree_copy;
using providers::tree_copy_error;
using providers::tree_copy_stats;

constexpr std::size_t kept_errors = 64;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// "/a/b/" and "/a/./b" are the volume "/a/b"; a relative or empty name is no volume.
fs::path normal_volume(std::string_view volume) {
  fs::path p = fs::path(volume).lexically_normal();
  if (p.empty() || !p.is_absolute()) return {};
  if (!p.has_filename() && p != p.root_path()) p = p.parent_path();
  return p;
}

bool inside(const fs::path& dir, const fs::path& p) {
  auto d = dir.begin();
  auto q = p.begin();
  for (; d != dir.end(); ++d, ++q) {
    if (d->empty()) continue;  // the empty last element of a path ending in '/'
    if (q == p.end() || *d != *q) return false;
  }
  return true;
}

fs::path canonical_or_lexical(const fs::path& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

// The nearest existing directory at or above `p` (the root may not exist yet).
fs::path existing_ancestor(fs::path p) {
  struct stat st;
  while (!p.empty() && ::stat(p.c_str(), &st) != 0) {
    if (p == p.root_path()) break;
    p = p.parent_path();
  }
  return p;
}

bool btrfs_fsid(const fs::path& p, btrfs_ioctl_fs_info_args& info) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  std::memset(&info, 0, sizeof info);
  const bool ok = ::ioctl(fd, BTRFS_IOC_FS_INFO, &info) == 0;
  ::close(fd);
  return ok;
}

// One filesystem means one superblock: FICLONE works between them and a freeze of one is a
// freeze of the other. btrfs gives every subvolume its own st_dev, so there the filesystem's
// UUID decides.
bool same_filesystem(const fs::path& volume, const fs::path& root) {
  const auto there = existing_ancestor(root);
  struct stat a, b;
  if (::stat(volume.c_str(), &a) != 0 || ::stat(there.c_str(), &b) != 0) return false;
  if (a.st_dev == b.st_dev) return true;
  struct statfs fa, fb;
  if (::statfs(volume.c_str(), &fa) != 0 || ::statfs(there.c_str(), &fb) != 0) return false;
  if (fa.f_type != BTRFS_SUPER_MAGIC || fb.f_type != BTRFS_SUPER_MAGIC) return false;
  btrfs_ioctl_fs_info_args ia, ib;
  if (!btrfs_fsid(volume, ia) || !btrfs_fsid(there, ib)) return false;
  return std::memcmp(ia.fsid, ib.fsid, sizeof ia.fsid) == 0;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string millis(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

reflink_pass_stats to_report(const tree_copy_stats& s) {
  reflink_pass_stats r;
  r.bytes_cloned = s.bytes_cloned;
  r.bytes_copied = s.bytes_copied;
  r.files = s.files;
  r.dirs = s.dirs;
  r.symlinks = s.symlinks;
  r.hardlinks = s.hardlinks;
  r.specials = s.specials;
  r.skipped = s.skipped;
  r.removed = s.removed;
  r.entries = s.entries;
  r.duration = s.duration;
  return r;
}

std::string describe(const reflink_pass_stats& s) {
  std::string out = std::to_string(s.entries) + " entries, " + std::to_string(s.files) +
                    " files, " + std::to_string(s.dirs) + " dirs, " + std::to_string(s.symlinks) +
                    " symlinks, " + std::to_string(s.hardlinks) + " hard links";
  if (s.removed) out += ", " + std::to_string(s.removed) + " removed";
  if (s.skipped) out += ", " + std::to_string(s.skipped) + " skipped";
  return out + "; " + human_bytes(s.bytes_cloned) + " cloned, " + human_bytes(s.bytes_copied) +
         " copied";
}

std::error_code error_of(const tree_copy_error& e) {
  // A cancelled step is not a provider failure: the set is being aborted.
  if (e.code == ECANCELED) return errc::bad_state;
  return providers::provider_error_from_errno(e.code);
}

}  // namespace

struct reflink_provider::impl {
  struct record {
    snapshot_properties props;
    fs::path volume;
    fs::path staging;
    fs::path final_path;
    bool same_fs = false;
    bool renamed = false;  // final_path is this object's work (never remove one found there)
    std::unique_ptr<tree_copy> copier;  // from the first pass to the commit
    reflink_snapshot_report report;
  };

  struct set_state {
    std::atomic<bool> cancel{false};
    std::mutex run;  // one job of the set at a time; an abort waits for the copy it cancelled
  };

  struct worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };

  reflink_provider_options options;
  std::string host = host_name();

  mutable std::mutex mutex;
  std::map<snapshot_id, std::shared_ptr<record>> records;
  std::map<snapshot_set_id, std::shared_ptr<set_state>> sets;
  std::map<snapshot_set_id, std::string> errors;
  std::deque<snapshot_set_id> error_order;

  std::mutex workers_mutex;
  std::vector<worker> workers;

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  void spawn(std::function<void()> job) {
    std::lock_guard lock(workers_mutex);
    // Join the threads that finished, so a long-lived provider does not collect them.
    for (auto it = workers.begin(); it != workers.end();) {
      if (it->finished->load()) {
        it->thread.join();
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    workers.push_back({std::thread([job = std::move(job), finished] {
                         job();
                         finished->store(true);
                       }),
                       finished});
  }

  void record_error(const snapshot_set_id& set, const std::string& why) {
    {
      std::lock_guard lock(mutex);
      if (errors.emplace(set, why).second) {
        error_order.push_back(set);
        if (error_order.size() > kept_errors) {
          errors.erase(error_order.front());
          error_order.pop_front();
        }
      } else {
        errors[set] = why;
      }
    }
    log("reflink: " + why);
  }

  fs::path root_for(const fs::path& volume) const {
    if (!options.snapshot_root.empty()) return options.snapshot_root.lexically_normal();
    if (volume.empty()) return {};
    return volume.parent_path() / ".openvss-snapshots";
  }

  // The records of `set` (in snapshot id order); caller holds `mutex`.
  std::vector<std::shared_ptr<record>> of_set(const snapshot_set_id& set) const {
    std::vector<std::shared_ptr<record>> out;
    for (const auto& [id, r] : records) {
      if (r->props.set_id == set) out.push_back(r);
    }
    return out;
  }

  // Moves every record of `set` from `from` to `to`; VSS_E_BAD_STATE if one is elsewhere.
  std::error_code advance(const snapshot_set_id& set, snapshot_state from, snapshot_state to) {
    std::lock_guard lock(mutex);
    auto rs = of_set(set);
    for (const auto& r : rs) {
      if (r->props.state != from) return errc::bad_state;
    }
    for (const auto& r : rs) r->props.state = to;
    return {};
  }

  std::shared_ptr<set_state> state_of(const snapshot_set_id& set) {
    auto& s = sets[set];
    if (!s) s = std::make_shared<set_state>();
    return s;
  }

  // Before a step that runs on a thread: every snapshot of `set` must be in `expected`, and
  // goes to `processing` (VSS_SS_PROCESSING_*) so that no other step or new volume slips in
  // while it runs. *st stays null when the set has no snapshot of this provider.
  std::error_code start_step(const snapshot_set_id& set, snapshot_state expected,
                             snapshot_state processing, std::shared_ptr<set_state>& st) {
    std::lock_guard lock(mutex);
    auto rs = of_set(set);
    for (const auto& r : rs) {
      if (r->props.state != expected) return errc::bad_state;
    }
    for (const auto& r : rs) r->props.state = processing;
    if (!rs.empty()) st = state_of(set);
    return {};
  }

  // Removes what this object made for `r`: the staging directory (its name is ours alone)
  // and the final one once renamed into place. Returns the first failure.
  tree_copy_error remove_made(record& r) {
    tree_copy_error first = providers::remove_tree(r.staging);
    if (r.renamed) {
      if (auto err = providers::remove_tree(r.final_path); err && !first) first = err;
    }
    return first;
  }

  // Removes whatever the set made on disk; the records stay (aborted) until abort_snapshots.
  void clean_up(const std::vector<std::shared_ptr<record>>& rs) {
    for (const auto& r : rs) {
      if (auto err = remove_made(*r)) log("reflink: cleanup: " + err.message());
    }
    std::lock_guard lock(mutex);
    for (const auto& r : rs) {
      r->copier.reset();
      r->props.state = snapshot_state::aborted;
    }
  }

  // A step that failed or was cancelled before touching the disk leaves the set aborted too.
  void mark_aborted(const snapshot_set_id& set) {
    std::lock_guard lock(mutex);
    for (const auto& r : of_set(set)) r->props.state = snapshot_state::aborted;
  }

  std::error_code prepare(const snapshot_set_id& set, set_state& st) {
    std::vector<std::shared_ptr<record>> rs;
    {
      std::lock_guard lock(mutex);
      rs = of_set(set);
    }
    for (const auto& r : rs) {
      const auto started = std::chrono::steady_clock::now();
      const fs::path root = r->final_path.parent_path();
      std::error_code ec;
      fs::create_directories(root, ec);
      if (ec) {
        record_error(
            set, providers::describe_errno("create snapshot root " + root.string(), ec.value()));
        clean_up(rs);
        return providers::provider_error_from_errno(ec.value());
      }
      // Leftovers of a crashed run under the same (deterministic) staging name.
      if (auto err = providers::remove_tree(r->staging)) {
        record_error(set, "prepare " + r->props.id.to_string() + ": " + err.message());
        clean_up(rs);
        return error_of(err);
      }
      if (struct stat existing; ::lstat(r->final_path.c_str(), &existing) == 0) {
        record_error(set, "prepare " + r->props.id.to_string() + ": " + r->final_path.string() +
                              " already exists");
        clean_up(rs);
        return errc::object_already_exists;
      }
      const bool same = same_filesystem(r->volume, root);
      providers::tree_copy_options o;
      o.cancel = &st.cancel;
      o.warn = [this](const std::string& w) { log("reflink: " + w); };
      o.allow_clone = same;
      o.recent_change_window = options.recent_change_window;
      if (options.progress) {
        o.progress = [this, id = r->props.id](std::uint64_t n) { options.progress(id, n); };
        o.progress_every = options.progress_every;
      }
      auto copier = std::make_unique<tree_copy>(r->volume, r->staging, std::move(o));
      tree_copy_stats stats;
      if (auto err = copier->copy(stats)) {
        record_error(set, "prepare " + r->props.id.to_string() + " of " + r->volume.string() +
                              ": " + err.message());
        clean_up(rs);
        return error_of(err);
      }
      const auto pass = to_report(stats);
      const auto took = std::chrono::steady_clock::now() - started;
      {
        std::lock_guard lock(mutex);
        r->same_fs = same;
        r->copier = std::move(copier);
        r->report.same_filesystem = same;
        r->report.prepare = pass;
        r->report.prepare_duration = took;
      }
      log("reflink: prepared " + r->props.id.to_string() + " of " + r->volume.string() + " in " +
          millis(took) + ": " + describe(pass));
    }
    return advance(set, snapshot_state::processing_prepare, snapshot_state::prepared);
  }

  std::error_code commit(const snapshot_set_id& set) {
    std::vector<std::shared_ptr<record>> rs;
    {
      std::lock_guard lock(mutex);
      rs = of_set(set);
    }
    const auto created = std::chrono::system_clock::now();
    const auto started = std::chrono::steady_clock::now();
    std::vector<reflink_pass_stats> passes;
    for (const auto& r : rs) {
      tree_copy_stats stats;
      if (!r->copier) {
        clean_up(rs);
        return errc::bad_state;
      }
      // Only the set's current job uses the copier (jobs of a set hold its `run` mutex).
      if (auto err = r->copier->update(stats)) {
        record_error(set, "commit " + r->props.id.to_string() + " of " + r->volume.string() + ": " +
                              err.message());
        clean_up(rs);
        return error_of(err);
      }
      passes.push_back(to_report(stats));
    }
    // Renamed only once every delta pass succeeded, so a failure leaves no final snapshot.
    for (const auto& r : rs) {
      if (::renameat2(AT_FDCWD, r->staging.c_str(), AT_FDCWD, r->final_path.c_str(),
                      RENAME_NOREPLACE) != 0) {
        const int e = errno;
        record_error(
            set, providers::describe_errno(
                     "commit: rename " + r->staging.string() + " to " + r->final_path.string(), e));
        clean_up(rs);
        return providers::provider_error_from_errno(e);
      }
      std::lock_guard lock(mutex);
      r->renamed = true;
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> lines;
    {
      std::lock_guard lock(mutex);
      for (std::size_t i = 0; i < rs.size(); ++i) {
        auto& r = *rs[i];
        r.copier.reset();
        r.props.state = snapshot_state::committed;
        r.props.created = created;
        r.report.commit = passes[i];
        r.report.commit_duration = now - started;
        lines.push_back("reflink: committed " + r.props.id.to_string() + " of " +
                        r.volume.string() + " at " + r.final_path.string() + " in " +
                        millis(r.report.commit_duration) + ": " + describe(passes[i]));
      }
    }
    for (const auto& l : lines) log(l);
    return {};
  }

  std::error_code make_read_only(const snapshot_set_id& set) {
    std::vector<std::shared_ptr<record>> rs;
    {
      std::lock_guard lock(mutex);
      rs = of_set(set);
    }
    std::vector<bool> marked;
    for (const auto& r : rs) {
      bool supported = true;
      if (auto err = providers::set_immutable_tree(r->final_path, true, &supported)) {
        record_error(set, "make read-only " + r->props.id.to_string() + ": " + err.message());
        clean_up(rs);
        return error_of(err);
      }
      if (!supported) {
        log("reflink: " + r->final_path.string() +
            " stays writable: its filesystem keeps no immutable flag, or the process lacks "
            "CAP_LINUX_IMMUTABLE");
      }
      marked.push_back(supported);
    }
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      rs[i]->report.read_only = marked[i];
      rs[i]->props.state = snapshot_state::created;
    }
    sets.erase(set);  // the set is done; its snapshots live on as records
    return {};
  }

  std::error_code abort(const snapshot_set_id& set) {
    std::vector<std::shared_ptr<record>> rs;
    {
      std::lock_guard lock(mutex);
      rs = of_set(set);
    }
    std::error_code first;
    for (const auto& r : rs) {
      if (auto err = remove_made(*r)) {
        record_error(set, "abort: " + err.message());
        if (!first) first = error_of(err);
      }
    }
    std::lock_guard lock(mutex);
    for (const auto& r : rs) records.erase(r->props.id);
    sets.erase(set);
    return first;
  }
};

reflink_provider::reflink_provider(reflink_provider_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
}

reflink_provider::~reflink_provider() {
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [id, s] : impl_->sets) s->cancel = true;
  }
  // A job's completion may start the next step, which spawns again: join until none is left.
  for (;;) {
    std::vector<impl::worker> ws;
    {
      std::lock_guard lock(impl_->workers_mutex);
      ws.swap(impl_->workers);
    }
    if (ws.empty()) break;
    for (auto& w : ws) w.thread.join();
  }
}

provider_properties reflink_provider::properties() const {
  return {impl_->options.id, impl_->options.name, provider_type::software, "1.0"};
}

fs::path reflink_provider::snapshot_root(std::string_view volume) const {
  return impl_->root_for(normal_volume(volume));
}

fs::path reflink_provider::snapshot_path(const snapshot_id& id, std::string_view volume) const {
  auto root = snapshot_root(volume);
  return root.empty() ? root : root / id.to_string();
}

fs::path reflink_provider::staging_path(const snapshot_id& id, std::string_view volume) const {
  auto root = snapshot_root(volume);
  return root.empty() ? root : root / (".staging-" + id.to_string());
}

bool reflink_provider::is_volume_supported(std::string_view volume) const {
  const auto v = normal_volume(volume);
  if (v.empty()) return false;
  struct stat st;
  if (::stat(v.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  // A root inside the volume would be copied into itself.
  return !inside(canonical_or_lexical(v), canonical_or_lexical(impl_->root_for(v)));
}

std::error_code reflink_provider::begin_prepare_snapshot(const snapshot_set_id& set,
                                                         const snapshot_id& snapshot,
                                                         std::string_view volume,
                                                         std::uint32_t context) {
  if (!is_volume_supported(volume)) return errc::volume_not_supported_by_provider;
  auto r = std::make_shared<impl::record>();
  r->volume = normal_volume(volume);
  r->staging = staging_path(snapshot, volume);
  r->final_path = snapshot_path(snapshot, volume);
  r->same_fs = same_filesystem(r->volume, r->final_path.parent_path());
  auto& p = r->props;
  p.id = snapshot;
  p.set_id = set;
  p.original_volume = std::string(volume);
  p.device = r->final_path.string();
  p.originating_machine = p.service_machine = impl_->host;
  p.provider = impl_->options.id;
  p.attributes = context | static_cast<std::uint32_t>(volume_attributes::exposed_locally);
  p.state = snapshot_state::preparing;
  r->report.id = snapshot;
  r->report.set = set;
  r->report.volume = p.original_volume;
  r->report.device = p.device;
  r->report.same_filesystem = r->same_fs;
  std::lock_guard lock(impl_->mutex);
  if (impl_->records.count(snapshot)) return errc::object_already_exists;
  for (const auto& other : impl_->of_set(set)) {
    if (other->props.state != snapshot_state::preparing) return errc::bad_state;
  }
  impl_->state_of(set);
  impl_->records.emplace(snapshot, std::move(r));
  return {};
}

void reflink_provider::end_prepare_snapshots(const snapshot_set_id& set, completion done) {
  std::shared_ptr<impl::set_state> st;
  if (auto ec =
          impl_->start_step(set, snapshot_state::preparing, snapshot_state::processing_prepare, st);
      ec || !st) {
    return done(ec);
  }
  impl_->spawn([this, set, st, done = std::move(done)] {
    std::error_code ec;
    {
      std::lock_guard run(st->run);
      ec = st->cancel ? make_error_code(errc::bad_state) : impl_->prepare(set, *st);
      if (ec) impl_->mark_aborted(set);
    }
    done(ec);
  });
}

void reflink_provider::pre_commit_snapshots(const snapshot_set_id& set, completion done) {
  done(impl_->advance(set, snapshot_state::prepared, snapshot_state::precommitted));
}

void reflink_provider::commit_snapshots(const snapshot_set_id& set, completion done) {
  std::shared_ptr<impl::set_state> st;
  if (auto ec = impl_->start_step(set, snapshot_state::precommitted,
                                  snapshot_state::processing_commit, st);
      ec || !st) {
    return done(ec);
  }
  impl_->spawn([this, set, st, done = std::move(done)] {
    std::error_code ec;
    {
      std::lock_guard run(st->run);
      ec = st->cancel ? make_error_code(errc::bad_state) : impl_->commit(set);
      if (ec) impl_->mark_aborted(set);
    }
    done(ec);
  });
}

void reflink_provider::post_commit_snapshots(const snapshot_set_id& set,
                                             std::int32_t snapshots_count, completion done) {
  std::error_code ec;
  {
    std::lock_guard lock(impl_->mutex);
    auto rs = impl_->of_set(set);
    for (const auto& r : rs) {
      if (r->props.state != snapshot_state::committed) ec = errc::bad_state;
    }
    for (const auto& r : rs) {
      if (ec) break;
      r->props.state = snapshot_state::postcommitted;
      r->props.snapshots_count = snapshots_count;
    }
  }
  done(ec);
}

void reflink_provider::post_final_commit_snapshots(const snapshot_set_id& set, completion done) {
  std::shared_ptr<impl::set_state> st;
  if (auto ec = impl_->start_step(set, snapshot_state::postcommitted,
                                  snapshot_state::processing_postfinalcommit, st);
      ec || !st) {
    return done(ec);
  }
  impl_->spawn([this, set, st, done = std::move(done)] {
    std::error_code ec;
    {
      std::lock_guard run(st->run);
      ec = impl_->make_read_only(set);
    }
    done(ec);
  });
}

void reflink_provider::abort_snapshots(const snapshot_set_id& set, completion done) {
  std::shared_ptr<impl::set_state> st;
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->of_set(set).empty()) {
      st = impl_->state_of(set);
      // Seen by a running copy before its next file; the removal below waits for it to stop.
      st->cancel = true;
    } else {
      impl_->sets.erase(set);
    }
  }
  if (!st) return done({});
  impl_->spawn([this, set, st, done = std::move(done)] {
    std::error_code ec;
    {
      std::lock_guard run(st->run);
      ec = impl_->abort(set);
    }
    done(ec);
  });
}

std::error_code reflink_provider::get_snapshot_properties(const snapshot_id& id,
                                                          snapshot_properties& out) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->records.find(id);
  if (it == impl_->records.end() || it->second->props.state != snapshot_state::created) {
    return errc::object_not_found;
  }
  out = it->second->props;
  return {};
}

std::vector<snapshot_properties> reflink_provider::query() const {
  std::vector<snapshot_properties> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [id, r] : impl_->records) {
    if (r->props.state == snapshot_state::created) out.push_back(r->props);
  }
  return out;
}

std::error_code reflink_provider::delete_snapshot(const snapshot_id& id) {
  std::shared_ptr<impl::record> r;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->records.find(id);
    if (it == impl_->records.end()) return errc::object_not_found;
    if (it->second->props.state != snapshot_state::created) return errc::bad_state;
    r = it->second;
    // Hidden while the tree goes, so that a second delete or a query does not see it.
    r->props.state = snapshot_state::deleted;
  }
  if (auto err = providers::remove_tree(r->final_path)) {
    impl_->log("reflink: delete " + id.to_string() + ": " + err.message());
    std::lock_guard lock(impl_->mutex);
    r->props.state = snapshot_state::created;
    return error_of(err);
  }
  impl_->log("reflink: deleted " + id.to_string() + " at " + r->final_path.string());
  std::lock_guard lock(impl_->mutex);
  impl_->records.erase(id);
  return {};
}

std::vector<std::string> reflink_provider::flush_and_hold_paths(const snapshot_set_id& set) const {
  std::vector<std::string> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& r : impl_->of_set(set)) {
    if (r->same_fs) continue;
    const auto v = r->volume.string();
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

std::error_code reflink_provider::adopt_snapshot(const snapshot_properties& snapshot) {
  const auto volume = normal_volume(snapshot.original_volume);
  if (volume.empty()) return errc::object_not_found;
  const auto expected = snapshot_path(snapshot.id, snapshot.original_volume);
  if (normal_volume(snapshot.device) != expected) return errc::object_not_found;
  struct stat st;
  if (::lstat(expected.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return errc::object_not_found;
  bool read_only = false;
  if (const int fd = ::open(expected.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    int flags = 0;
    read_only = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL) != 0;
    ::close(fd);
  }
  auto r = std::make_shared<impl::record>();
  r->volume = volume;
  r->staging = staging_path(snapshot.id, snapshot.original_volume);
  r->final_path = expected;
  r->same_fs = same_filesystem(volume, expected.parent_path());
  r->props = snapshot;
  r->props.device = expected.string();
  r->props.provider = impl_->options.id;
  r->props.attributes |= static_cast<std::uint32_t>(volume_attributes::exposed_locally);
  r->props.state = snapshot_state::created;
  r->report.id = snapshot.id;
  r->report.set = snapshot.set_id;
  r->report.volume = snapshot.original_volume;
  r->report.device = r->props.device;
  r->report.same_filesystem = r->same_fs;
  r->report.read_only = read_only;
  std::lock_guard lock(impl_->mutex);
  if (auto it = impl_->records.find(snapshot.id); it != impl_->records.end()) {
    const bool same =
        it->second->props.state == snapshot_state::created && it->second->final_path == expected;
    return same ? std::error_code{} : make_error_code(errc::object_already_exists);
  }
  impl_->records.emplace(snapshot.id, std::move(r));
  return {};
}

std::error_code reflink_provider::discard_snapshot(const snapshot_id& id, std::string_view volume) {
  const auto staging = staging_path(id, volume);
  const auto final_path = snapshot_path(id, volume);
  if (staging.empty()) return errc::invalid_arg;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->records.count(id)) return errc::bad_state;
  }
  for (const auto& p : {staging, final_path}) {
    if (auto err = providers::remove_tree(p)) {
      impl_->log("reflink: discard " + id.to_string() + ": " + err.message());
      return error_of(err);
    }
  }
  return {};
}

std::optional<reflink_snapshot_report> reflink_provider::report(const snapshot_id& id) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->records.find(id);
  if (it == impl_->records.end()) return std::nullopt;
  return it->second->report;
}

std::string reflink_provider::last_error(const snapshot_set_id& set) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->errors.find(set);
  return it == impl_->errors.end() ? std::string() : it->second;
}

}  // namespace vss
