#pragma once
// An in-memory snapshot provider: it keeps snapshot records and nothing else. It is the
// provider of the examples and tests, and a reference for the provider contract: every step
// completes inline, abort_snapshots discards the set, and the state of each snapshot follows
// VSS_SNAPSHOT_STATE (preparing -> prepared -> precommitted -> committed -> created).
//
// Example:
//   auto mem = std::make_shared<vss::memory_provider>();
//   engine.register_provider(mem);
//   ... run a backup of volume "/data" ...
//   assert(mem->query().size() == 1);
//
// Thread-safety: every member may be called from any thread.
// Cost: a step or an abort touches only its own set's records (plus a lookup among all of
// them), so one provider can serve many concurrent sessions and keep many snapshots.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "vss/provider.hpp"

namespace vss {

/// Options of a memory_provider.
struct memory_provider_options {
  /// Provider name. Default: "openvss memory provider".
  std::string name = "openvss memory provider";
  /// Provider id. Default: generated.
  provider_id id = provider_id::generate();
  /// Which volumes are supported. Default: every non-empty name.
  std::function<bool(std::string_view)> supports;
};

/// The in-memory provider.
class memory_provider : public provider {
 public:
  explicit memory_provider(memory_provider_options options = {});

  provider_properties properties() const override;
  bool is_volume_supported(std::string_view volume) const override;
  std::error_code begin_prepare_snapshot(const snapshot_set_id& set, const snapshot_id& snapshot,
                                         std::string_view volume, std::uint32_t context) override;
  void end_prepare_snapshots(const snapshot_set_id& set, completion done) override;
  void pre_commit_snapshots(const snapshot_set_id& set, completion done) override;
  void commit_snapshots(const snapshot_set_id& set, completion done) override;
  void post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                             completion done) override;
  void post_final_commit_snapshots(const snapshot_set_id& set, completion done) override;
  void abort_snapshots(const snapshot_set_id& set, completion done) override;
  std::error_code get_snapshot_properties(const snapshot_id& id,
                                          snapshot_properties& out) const override;
  std::vector<snapshot_properties> query() const override;
  std::error_code delete_snapshot(const snapshot_id& id) override;

  /// Every snapshot record, in any state (created, or still in creation).
  std::vector<snapshot_properties> all_records() const;

 private:
  void advance(const snapshot_set_id& set, snapshot_state from, snapshot_state to,
               completion& done);

  memory_provider_options options_;
  mutable std::mutex mutex_;
  using records = std::map<snapshot_id, snapshot_properties>;
  records snapshots_;
  // Each set's records, so that a step or an abort touches its own set only: with every
  // record scanned, M sessions sharing this provider made a burst of M aborts cost O(M^2),
  // and snapshots kept from earlier backups slowed every later step. A map's iterators stay
  // valid until their record is erased, and every erase drops its entry here too.
  std::unordered_multimap<snapshot_set_id, records::iterator> sets_;
};

}  // namespace vss
