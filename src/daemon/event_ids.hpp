#pragma once
// Stable numeric event ids for openvssd's log records (spec §9, CHOICE: modelled on the VSS
// service's own Application-log events, so operators can grep and alert on them).

namespace vss::daemon::event_id {

inline constexpr int unexpected_error = 8193;        // VSS 8193: unexpected error, details logged
inline constexpr int writer_rejected_event = 8229;   // VSS 8229: a writer vetoed an event
inline constexpr int creation_initiated = 8231;      // VSS 8231: snapshot-set creation started
inline constexpr int provider_error = 12293;         // VSS 12293: error calling a provider
inline constexpr int writer_connected = 8300;        // openvss: a writer registered
inline constexpr int writer_not_responding = 8301;   // openvss: a writer's connection dropped
inline constexpr int writer_lease_expired = 8302;    // openvss: a writer thawed itself
inline constexpr int peer_refused = 8310;            // openvss: SO_PEERCRED not allowed
inline constexpr int protocol_error = 8311;          // openvss: malformed frame or message
inline constexpr int requester_disconnected = 8312;  // openvss: dropped requester (§10.3 E)
inline constexpr int recovery = 8313;                // openvss: startup recovery did something
inline constexpr int catalog_error = 8314;           // openvss: the catalog could not record

}  // namespace vss::daemon::event_id
