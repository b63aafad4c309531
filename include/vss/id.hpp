// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/id.hpp — GUID-like identifiers (VSS_ID) and strongly typed ids built on them.
//
// `guid` is 16 bytes in the order they are written in text (RFC 4122 "network" order:
// "{00112233-4455-6677-8899-aabbccddeeff}" is bytes 00 11 22 ... ff), NOT the mixed-endian
// memory layout of a Windows GUID struct; convert when exchanging binary GUIDs with Windows.
// The text form is the registry form VSS tools print, in lowercase.
//
// `basic_id<Tag>` wraps a guid so that ids of different kinds do not mix: a `snapshot_id`
// cannot be passed where a `snapshot_set_id` is expected, nor compared with one.
//
// Thread-safety: values are immutable and freely copyable. `generate()` may be called from any
// number of threads at once (each thread has its own generator, reseeded in a forked child).

#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace vss {

/// A 128-bit globally unique identifier — VSS_ID (a GUID). The default value is the null id
/// ("{00000000-0000-0000-0000-000000000000}", GUID_NULL).
class guid {
 public:
  /// The 16 bytes, in textual order.
  using bytes_type = std::array<std::uint8_t, 16>;

  /// The null id.
  constexpr guid() noexcept = default;

  /// An id with exactly these bytes (textual order).
  constexpr explicit guid(const bytes_type& bytes) noexcept : bytes_(bytes) {}

  /// A fresh random (version 4, RFC 4122 variant) id. Fast: a per-thread std::mt19937_64
  /// seeded from std::random_device; not suitable as a secret. Never returns the null id.
  static guid generate();

  /// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", optionally enclosed in one pair of braces,
  /// hex digits in either case. Anything else (other lengths, whitespace, a missing or
  /// unbalanced brace, a misplaced '-', a non-hex digit) gives nullopt. Never throws.
  static std::optional<guid> parse(std::string_view text) noexcept;

  /// The null id (GUID_NULL).
  static constexpr guid null() noexcept { return guid{}; }

  /// An id from two 64-bit halves, most significant first, for literals in tests and examples:
  /// `from_u128(0x0011223344556677, 0x8899aabbccddeeff)` is
  /// "{00112233-4455-6677-8899-aabbccddeeff}".
  static constexpr guid from_u128(std::uint64_t hi, std::uint64_t lo) noexcept {
    bytes_type b{};
    for (int i = 0; i < 8; ++i) {
      b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
      b[static_cast<std::size_t>(i + 8)] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
    }
    return guid{b};
  }

  /// The first 8 bytes as a big-endian integer (the `hi` of `from_u128`).
  constexpr std::uint64_t high64() const noexcept { return load64(0); }

  /// The last 8 bytes as a big-endian integer (the `lo` of `from_u128`).
  constexpr std::uint64_t low64() const noexcept { return load64(8); }

  /// "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}", lowercase hex, 38 characters.
  std::string to_string() const;

  /// True for the null id.
  constexpr bool is_null() const noexcept {
    for (std::uint8_t b : bytes_) {
      if (b != 0) return false;
    }
    return true;
  }

  /// The 16 bytes, in textual order.
  constexpr const bytes_type& bytes() const noexcept { return bytes_; }

  /// Equality of all 16 bytes.
  friend constexpr bool operator==(const guid&, const guid&) noexcept = default;

  /// Lexicographic order of the bytes, i.e. the numeric order of (high64(), low64()) and the
  /// order of the lowercase text.
  friend constexpr std::strong_ordering operator<=>(const guid&, const guid&) noexcept = default;

 private:
  constexpr std::uint64_t load64(std::size_t at) const noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | bytes_[at + i];
    return v;
  }

  bytes_type bytes_{};
};

/// Prints `g.to_string()`.
std::ostream& operator<<(std::ostream& os, const guid& g);

/// A guid that names one kind of object, told apart by `Tag` (any type; only its identity
/// matters). Has the operations of `guid`; converts from a guid only explicitly and never to a
/// `basic_id` of another tag.
template <class Tag>
class basic_id {
 public:
  /// The tag this id kind is distinguished by.
  using tag_type = Tag;

  /// The null id.
  constexpr basic_id() noexcept = default;

  /// Wraps `g` (explicit: say which kind of id a raw guid is).
  constexpr explicit basic_id(const guid& g) noexcept : value_(g) {}

  /// A fresh random id; see `guid::generate()`.
  static basic_id generate() { return basic_id{guid::generate()}; }

  /// Parses the text form; see `guid::parse()`. Never throws.
  static std::optional<basic_id> parse(std::string_view text) noexcept {
    if (auto g = guid::parse(text)) return basic_id{*g};
    return std::nullopt;
  }

  /// The null id.
  static constexpr basic_id null() noexcept { return basic_id{}; }

  /// A literal id; see `guid::from_u128()`.
  static constexpr basic_id from_u128(std::uint64_t hi, std::uint64_t lo) noexcept {
    return basic_id{guid::from_u128(hi, lo)};
  }

  /// "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}", lowercase.
  std::string to_string() const { return value_.to_string(); }

  /// True for the null id.
  constexpr bool is_null() const noexcept { return value_.is_null(); }

  /// The underlying guid.
  constexpr const guid& value() const noexcept { return value_; }

  /// Equality of the underlying guids (same tag only).
  friend constexpr bool operator==(const basic_id&, const basic_id&) noexcept = default;

  /// Order of the underlying guids (same tag only).
  friend constexpr std::strong_ordering operator<=>(const basic_id&,
                                                    const basic_id&) noexcept = default;

 private:
  guid value_{};
};

/// Prints `id.to_string()`.
template <class Tag>
std::ostream& operator<<(std::ostream& os, const basic_id<Tag>& id) {
  return os << id.value();
}

/// Tag of `writer_class_id`.
struct writer_class_tag {};
/// Tag of `writer_instance_id`.
struct writer_instance_tag {};
/// Tag of `snapshot_set_id`.
struct snapshot_set_tag {};
/// Tag of `snapshot_id`.
struct snapshot_tag {};
/// Tag of `provider_id`.
struct provider_tag {};
/// Tag of `session_id`.
struct session_tag {};

/// Identifies a writer application (same for all its instances) — the writer class id
/// (idWriter, VSS_ID).
using writer_class_id = basic_id<writer_class_tag>;
/// Identifies one running writer instance — idInstance / pidInstance.
using writer_instance_id = basic_id<writer_instance_tag>;
/// Identifies a snapshot set — VSS_ID from StartSnapshotSet.
using snapshot_set_id = basic_id<snapshot_set_tag>;
/// Identifies one shadow copy — VSS_ID from AddToSnapshotSet.
using snapshot_id = basic_id<snapshot_tag>;
/// Identifies a snapshot provider — ProviderId.
using provider_id = basic_id<provider_tag>;
/// Identifies one requester session (one IVssBackupComponents object); openvss only.
using session_id = basic_id<session_tag>;

}  // namespace vss

/// Hash of a guid: mixes all 128 bits, so sequential literal ids spread well too.
template <>
struct std::hash<vss::guid> {
  std::size_t operator()(const vss::guid& g) const noexcept {
    // splitmix64 finaliser over both halves.
    auto mix = [](std::uint64_t z) {
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return z ^ (z >> 31);
    };
    return static_cast<std::size_t>(mix(g.high64() ^ mix(g.low64())));
  }
};

/// Hash of an id: the hash of its guid.
template <class Tag>
struct std::hash<vss::basic_id<Tag>> {
  std::size_t operator()(const vss::basic_id<Tag>& id) const noexcept {
    return std::hash<vss::guid>{}(id.value());
  }
};
