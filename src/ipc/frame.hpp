#pragma once
// Length-prefixed framing for the openvssd protocol (docs/ipc-protocol.md): a 4-byte big-endian
// length, then that many bytes of payload. The decoder is incremental: feed it whatever the
// socket delivered, take out complete frames. It never allocates more than max_frame bytes
// for one frame, whatever the peer claims.
//
// Thread-safety: encode_frame is stateless. A frame_decoder is a plain value: use one from one
// thread at a time (one per connection).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "ipc/protocol_error.hpp"

namespace vss::ipc {

/// The protocol version spoken by this build (the `version` of `hello` and `welcome`).
inline constexpr std::uint32_t protocol_version = 1;
/// Largest payload accepted by default (1 MiB; `max_frame_bytes` in the daemon config).
inline constexpr std::size_t default_max_frame = std::size_t{1} << 20;
/// Size of the big-endian length prefix.
inline constexpr std::size_t frame_header_size = 4;

/// The frame for `payload`: header + payload. Fails with protocol_errc::empty_frame or
/// oversized_frame (and returns an empty string) when the payload cannot be framed; clears
/// `ec` on success. A `max_frame` above 2^32 - 1 acts as 2^32 - 1 (the header's limit).
std::string encode_frame(std::string_view payload, std::error_code& ec,
                         std::size_t max_frame = default_max_frame);

/// Splits a byte stream into frame payloads.
///
/// Memory: the buffer holds only what was fed and not yet returned; consumed bytes are
/// dropped as the buffer is reused (amortised O(1) per byte), and nothing is reserved from a
/// header's claim. A caller that calls next() after every feed() therefore holds at most
/// max_frame + frame_header_size + one feed's bytes. Once broken, the decoder drops its buffer
/// and ignores further input.
class frame_decoder {
 public:
  /// A decoder accepting payloads of 1..max_frame bytes.
  explicit frame_decoder(std::size_t max_frame = default_max_frame);

  /// Appends bytes read from the stream. Ignored once the decoder is broken.
  void feed(const char* data, std::size_t size);

  /// The next complete payload, or nullopt when more bytes are needed or the stream is
  /// broken. A header declaring length 0 or more than max_frame sets `ec` (empty_frame,
  /// oversized_frame) and breaks the stream for good: every later call fails the same way.
  /// Clears `ec` otherwise.
  std::optional<std::string> next(std::error_code& ec);

  /// True when bytes of an unfinished frame are buffered (at EOF: a truncated frame): some
  /// bytes are buffered and they do not start with a complete frame. False once broken (the
  /// stream already failed with its own error).
  bool has_partial_frame() const noexcept;

  /// True once a bad header was seen.
  bool broken() const noexcept { return broken_.has_value(); }
  /// The largest payload accepted.
  std::size_t max_frame() const noexcept { return max_frame_; }
  /// Bytes fed and not yet returned as frames (0 once broken).
  std::size_t buffered() const noexcept { return buffer_.size() - consumed_; }

 private:
  void compact() noexcept;

  std::size_t max_frame_;
  std::string buffer_;
  std::size_t consumed_ = 0;  // bytes of buffer_ already returned
  std::optional<protocol_errc> broken_;
};

}  // namespace vss::ipc
