#include "ipc/frame.hpp"

#include <algorithm>
#include <limits>

namespace vss::ipc {
namespace {

constexpr std::size_t k_header_limit = std::numeric_limits<std::uint32_t>::max();

std::uint32_t read_be32(const char* p) noexcept {
  auto byte = [p](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
}

}  // namespace

std::string encode_frame(std::string_view payload, std::error_code& ec, std::size_t max_frame) {
  if (payload.empty()) {
    ec = protocol_errc::empty_frame;
    return {};
  }
  if (payload.size() > std::min(max_frame, k_header_limit)) {
    ec = protocol_errc::oversized_frame;
    return {};
  }
  ec.clear();
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string frame;
  frame.reserve(frame_header_size + payload.size());
  frame.push_back(static_cast<char>((n >> 24) & 0xFF));
  frame.push_back(static_cast<char>((n >> 16) & 0xFF));
  frame.push_back(static_cast<char>((n >> 8) & 0xFF));
  frame.push_back(static_cast<char>(n & 0xFF));
  frame.append(payload);
  return frame;
}

frame_decoder::frame_decoder(std::size_t max_frame) : max_frame_(max_frame) {}

void frame_decoder::compact() noexcept {
  // Drop the returned prefix only when it is at least as large as what remains, so every
  // byte is moved O(1) times on average however the caller interleaves feed() and next().
  if (consumed_ == 0) return;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ >= buffer_.size() - consumed_) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
}

void frame_decoder::feed(const char* data, std::size_t size) {
  if (broken_ || size == 0) return;
  compact();
  buffer_.append(data, size);
}

std::optional<std::string> frame_decoder::next(std::error_code& ec) {
  if (broken_) {
    ec = *broken_;
    return std::nullopt;
  }
  ec.clear();
  const std::size_t available = buffer_.size() - consumed_;
  if (available < frame_header_size) return std::nullopt;
  const std::size_t length = read_be32(buffer_.data() + consumed_);
  if (length == 0 || length > max_frame_) {
    broken_ = length == 0 ? protocol_errc::empty_frame : protocol_errc::oversized_frame;
    ec = *broken_;
    // Nothing after a lost frame boundary can be used: free the memory now.
    std::string().swap(buffer_);
    consumed_ = 0;
    return std::nullopt;
  }
  if (available - frame_header_size < length) return std::nullopt;
  std::string payload(buffer_, consumed_ + frame_header_size, length);
  consumed_ += frame_header_size + length;
  compact();
  return payload;
}

bool frame_decoder::has_partial_frame() const noexcept {
  if (broken_) return false;
  const std::size_t available = buffer_.size() - consumed_;
  if (available == 0) return false;
  if (available < frame_header_size) return true;
  const std::size_t length = read_be32(buffer_.data() + consumed_);
  if (length == 0 || length > max_frame_) return false;  // next() reports the bad header
  return available - frame_header_size < length;
}

}  // namespace vss::ipc
