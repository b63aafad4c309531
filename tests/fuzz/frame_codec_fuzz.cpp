// libFuzzer target for the wire codec (src/ipc/frame.cpp, src/ipc/message.cpp).
//
// Input layout: byte 0 picks the decoder's max_frame (low 2 bits: 1 MiB, 64, 1024, 65536
// bytes); bytes 1..3 are the sizes of the chunks the stream is fed in, used in turn (0 feeds
// all that is left); the rest is the byte stream of a connection.
//
// Checked, abort() on a mismatch:
//  - the incremental decoder yields exactly the frames, error and truncation of a one-shot
//    reference split of the whole stream, whatever the chunking; once broken it stays broken
//    and ignores further input;
//  - every frame re-frames to itself;
//  - decode_message never throws; a failure has a known code and a detail that can be sent
//    back in a valid `error` frame;
//  - a decoded message re-encodes to a payload that decodes to the same type and body, and
//    encodes to the same bytes again; the converters round-trip what it carries.
//
// Build and run: the clang presets build it (target frame_codec_fuzz, CTest fuzz.frame_codec.run
// fuzzes for 30 s); by hand:
//   cmake --preset clang && cmake --build build/clang --target frame_codec_fuzz
//   build/clang/tests/frame_codec_fuzz -max_total_time=60 NEW_DIR tests/fuzz/corpus/frame_codec
// Every other build replays the corpus (fuzz/replay_main.cpp, CTest fuzz.frame_codec.corpus).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "ipc/frame.hpp"
#include "ipc/message.hpp"
#include "ipc/protocol_error.hpp"

namespace {

using nlohmann::json;
using vss::ipc::protocol_errc;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "frame_codec_fuzz: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

struct split {
  std::vector<std::string> frames;
  std::optional<protocol_errc> error;
  bool partial = false;
};

// The framing rule of docs/ipc-protocol.md, applied to the whole stream at once.
split reference_split(std::string_view s, std::size_t max_frame) {
  split out;
  std::size_t at = 0;
  while (true) {
    const std::size_t left = s.size() - at;
    if (left < 4) {
      out.partial = left > 0;
      return out;
    }
    const auto b = [&](std::size_t i) {
      return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i]));
    };
    const std::size_t n = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
    if (n == 0 || n > max_frame) {
      out.error = n == 0 ? protocol_errc::empty_frame : protocol_errc::oversized_frame;
      return out;
    }
    if (left - 4 < n) {
      out.partial = true;
      return out;
    }
    out.frames.emplace_back(s.substr(at + 4, n));
    at += 4 + n;
  }
}

template <class T, class From>
void check_converter_round_trip(const json& j, From from) {
  const json once = vss::ipc::to_json(static_cast<T>(from(j)));
  const json twice = vss::ipc::to_json(static_cast<T>(from(once)));
  check(once == twice, "converter round trip changed the value");
}

void check_carried_values(const vss::ipc::message& m) {
  using vss::ipc::message_type;
  switch (m.type) {
    case message_type::register_writer:
      check_converter_round_trip<vss::writer_identity>(m.body.at("writer"),
                                                       vss::ipc::identity_from_json);
      break;
    case message_type::event:
      for (const json& c : m.body.at("components")) {
        check_converter_round_trip<vss::selected_component>(c,
                                                            vss::ipc::selected_component_from_json);
      }
      break;
    case message_type::result:
      if (m.body.contains("metadata")) {
        vss::writer_metadata first;
        vss::ipc::metadata_from_json(m.body.at("metadata"), first);
        const json once = vss::ipc::metadata_to_json(first);
        vss::writer_metadata second;
        vss::ipc::metadata_from_json(once, second);
        check(vss::ipc::metadata_to_json(second) == once, "metadata round trip changed it");
      }
      break;
    default:
      break;
  }
}

void check_payload(const std::string& payload, std::size_t max_frame) {
  check(!payload.empty() && payload.size() <= max_frame, "frame size out of bounds");

  std::error_code ec;
  const std::string reframed = vss::ipc::encode_frame(payload, ec, max_frame);
  check(!ec, "a decoded payload cannot be re-framed");
  vss::ipc::frame_decoder d(max_frame);
  d.feed(reframed.data(), reframed.size());
  const auto back = d.next(ec);
  check(back && *back == payload && !ec && !d.has_partial_frame(), "re-framing changed it");

  vss::ipc::message m;
  std::string detail;
  const std::error_code mec = vss::ipc::decode_message(payload, m, detail);
  if (mec) {
    check(mec.category() == vss::ipc::protocol_category(), "decode error of another category");
    const auto code = static_cast<protocol_errc>(mec.value());
    check(code == protocol_errc::bad_json || code == protocol_errc::not_an_object ||
              code == protocol_errc::missing_type || code == protocol_errc::unknown_type ||
              code == protocol_errc::bad_message,
          "decode returned a code it must not");
    check(!detail.empty(), "decode failure without a detail");
    // The daemon answers with this detail: the answer must itself be a valid message.
    const std::string reply = vss::ipc::encode_message(vss::ipc::make_error(code, detail, 0));
    vss::ipc::message r;
    std::string rdetail;
    check(!vss::ipc::decode_message(reply, r, rdetail), "an error frame does not decode");
    return;
  }
  check(detail.empty(), "decode success left a detail");
  check(m.body.is_object() && m.body.at("type") == vss::ipc::to_string(m.type),
        "decoded type does not match the body");

  const std::string encoded = vss::ipc::encode_message(m.body);
  vss::ipc::message again;
  const std::error_code aec = vss::ipc::decode_message(encoded, again, detail);
  check(!aec, "a re-encoded message does not decode");
  check(again.type == m.type && again.body == m.body, "re-encoding changed the message");
  check(vss::ipc::encode_message(again.body) == encoded, "encoding is not stable");

  check_carried_values(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  static constexpr std::size_t k_max_frames[] = {vss::ipc::default_max_frame, 64, 1024, 65536};
  const std::size_t max_frame = k_max_frames[data[0] & 3];
  const std::uint8_t chunks[3] = {data[1], data[2], data[3]};
  const std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);

  const split expected = reference_split(stream, max_frame);

  vss::ipc::frame_decoder d(max_frame);
  std::vector<std::string> frames;
  std::optional<protocol_errc> error;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::size_t want = chunks[i % 3];
    const std::size_t n = want == 0 ? stream.size() - at : std::min(want, stream.size() - at);
    d.feed(stream.data() + at, n);
    at += n;
    std::error_code ec;
    while (auto p = d.next(ec)) {
      check(!error, "a frame after the stream broke");
      frames.push_back(std::move(*p));
    }
    if (ec) {
      const auto code = static_cast<protocol_errc>(ec.value());
      check(!error || *error == code, "a broken decoder changed its error");
      check(d.broken() && d.buffered() == 0, "an error without a broken, empty decoder");
      error = code;
    }
  }
  if (error) {
    std::error_code ec;
    check(!d.next(ec) && ec == *error, "a broken decoder recovered");
  }

  check(frames == expected.frames, "frames differ from the reference split");
  check(error == expected.error, "error differs from the reference split");
  check(d.has_partial_frame() == expected.partial, "truncation differs from the reference");

  for (const std::string& f : frames) check_payload(f, max_frame);
  return 0;
}
