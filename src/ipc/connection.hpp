#pragma once
// One framed, message-level connection over a Unix stream socket (docs/ipc-protocol.md), used by
// the daemon for each peer and by the writer client. Reads run on the connection's strand and
// hand validated messages to `on_message`; sends may come from any thread and go out in order.
//
// Protocol errors are handled here, the same way for every role: a bad message gets an `error`
// frame and the connection stays open; a broken framing (empty or oversized length) gets an
// `error` frame and the connection closes. `on_closed` runs exactly once, on the strand, with the
// reason: eof, a truncated frame, a framing error, a local close() or a socket error.
//
// Back-pressure: a peer that stops reading cannot make us buffer without bound; once more than
// max_queued_bytes are waiting to be written the connection is closed (server_busy).

#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "ipc/frame.hpp"
#include "ipc/message.hpp"

namespace vss::ipc {

struct connection_handlers {
  std::function<void(message&)> on_message;
  /// Called for every protocol error before the error frame goes out (for logging). Optional.
  std::function<void(protocol_errc, const std::string& detail)> on_protocol_error;
  std::function<void(std::error_code)> on_closed;
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  using socket_type = asio::local::stream_protocol::socket;
  using strand_type = asio::strand<asio::any_io_executor>;

  static constexpr std::size_t default_max_queued_bytes = std::size_t{16} << 20;

  connection(socket_type socket, std::size_t max_frame = default_max_frame,
             std::size_t max_queued_bytes = default_max_queued_bytes);
  ~connection();

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts reading. Call once. If the connection was closed before, on_closed runs at once.
  void start(connection_handlers handlers);

  /// Queues one message (a body with "type"). Any thread. Dropped after close.
  void send(const nlohmann::json& body);

  /// Sends `body`, then closes once it is written. Any thread.
  void send_and_close(const nlohmann::json& body);

  /// Closes now; queued frames are dropped. Any thread. on_closed gets operation_aborted.
  void close();

  bool is_open() const;
  int native_handle() { return socket_.native_handle(); }
  const strand_type& strand() const noexcept { return strand_; }

 private:
  void read_some();
  void on_read(std::error_code ec, std::size_t n);
  void enqueue(std::string frame, bool close_after);
  void write_next();
  void finish(std::error_code why);
  void report_protocol_error(protocol_errc code, const std::string& detail, bool fatal);

  strand_type strand_;
  socket_type socket_;
  frame_decoder decoder_;
  std::size_t max_queued_bytes_;
  connection_handlers handlers_;
  std::array<char, 16384> read_buffer_{};

  mutable std::mutex mutex_;  // guards the write queue and closed_ (send() is any-thread)
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool close_after_flush_ = false;
  bool closed_ = false;
  bool finished_ = false;  // strand only
};

}  // namespace vss::ipc
