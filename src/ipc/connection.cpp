#include "ipc/connection.hpp"

#include <asio/bind_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <utility>

namespace vss::ipc {

connection::connection(socket_type socket, std::size_t max_frame, std::size_t max_queued_bytes)
    : strand_(asio::make_strand(socket.get_executor())),
      socket_(std::move(socket)),
      decoder_(max_frame),
      max_queued_bytes_(max_queued_bytes) {}

connection::~connection() = default;

void connection::start(connection_handlers handlers) {
  // handlers_ is strand-only state: a close() posted before start() may already have run.
  asio::dispatch(strand_, [self = shared_from_this(), h = std::move(handlers)]() mutable {
    if (self->finished_) {
      if (h.on_closed) h.on_closed(asio::error::operation_aborted);
      return;
    }
    self->handlers_ = std::move(h);
    self->read_some();
  });
}

bool connection::is_open() const {
  std::lock_guard lock(mutex_);
  return !closed_;
}

void connection::read_some() {
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec, std::size_t n) {
        self->on_read(ec, n);
      }));
}

void connection::on_read(std::error_code ec, std::size_t n) {
  if (finished_) return;
  if (n > 0) decoder_.feed(read_buffer_.data(), n);
  // Hand out every complete frame before acting on the error: a peer that writes its last
  // frame and closes must still be heard.
  for (;;) {
    std::error_code frame_ec;
    auto payload = decoder_.next(frame_ec);
    if (frame_ec) {
      report_protocol_error(static_cast<protocol_errc>(frame_ec.value()), frame_ec.message(), true);
      return;
    }
    if (!payload) break;
    message msg;
    std::string detail;
    if (auto bad = decode_message(*payload, msg, detail)) {
      report_protocol_error(static_cast<protocol_errc>(bad.value()), detail, false);
      continue;
    }
    if (handlers_.on_message) handlers_.on_message(msg);
    if (finished_) return;
  }
  if (ec) {
    if (ec == asio::error::eof && decoder_.has_partial_frame()) {
      if (handlers_.on_protocol_error) {
        handlers_.on_protocol_error(protocol_errc::truncated_frame,
                                    "the peer closed the connection in the middle of a frame");
      }
      finish(protocol_errc::truncated_frame);
    } else {
      finish(ec);
    }
    return;
  }
  read_some();
}

void connection::report_protocol_error(protocol_errc code, const std::string& detail, bool fatal) {
  if (handlers_.on_protocol_error) handlers_.on_protocol_error(code, detail);
  auto body = make_error(code, detail);
  if (fatal || closes_connection(code)) {
    send_and_close(body);
    // Stop reading: nothing after a lost frame boundary can be trusted.
    std::error_code ignored;
    socket_.shutdown(socket_type::shutdown_receive, ignored);
  } else {
    send(body);
  }
}

void connection::send(const nlohmann::json& body) {
  std::error_code ec;
  auto frame = encode_frame(encode_message(body), ec, decoder_.max_frame());
  if (ec) return;  // our own message too large: a bug, never sent half
  enqueue(std::move(frame), false);
}

void connection::send_and_close(const nlohmann::json& body) {
  std::error_code ec;
  auto frame = encode_frame(encode_message(body), ec, decoder_.max_frame());
  enqueue(ec ? std::string{} : std::move(frame), true);
}

void connection::enqueue(std::string frame, bool close_after) {
  bool start = false;
  bool overflow = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || close_after_flush_) return;
    if (queued_bytes_ + frame.size() > max_queued_bytes_) {
      overflow = true;
    } else {
      queued_bytes_ += frame.size();
      if (!frame.empty()) queue_.push_back(std::move(frame));
      close_after_flush_ = close_after;
      start = !writing_;
      writing_ = writing_ || start;
    }
  }
  if (overflow) {
    // post, not dispatch: finish() must never run inside a caller on this strand (a message
    // handler that sends), whose closure finish() destroys.
    asio::post(strand_, [self = shared_from_this()] {
      self->finish(make_error_code(protocol_errc::server_busy));
    });
    return;
  }
  if (start) asio::dispatch(strand_, [self = shared_from_this()] { self->write_next(); });
}

void connection::write_next() {
  std::string* front = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (queue_.empty()) {
      writing_ = false;
      if (!close_after_flush_) return;
    } else {
      front = &queue_.front();
    }
  }
  if (!front) {
    finish(asio::error::eof);
    return;
  }
  asio::async_write(
      socket_, asio::buffer(*front),
      asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec, std::size_t) {
        {
          std::lock_guard lock(self->mutex_);
          if (!self->queue_.empty()) {
            self->queued_bytes_ -= self->queue_.front().size();
            self->queue_.pop_front();
          }
        }
        if (ec) {
          self->finish(ec);
          return;
        }
        self->write_next();
      }));
}

void connection::close() {
  asio::dispatch(strand_,
                 [self = shared_from_this()] { self->finish(asio::error::operation_aborted); });
}

void connection::finish(std::error_code why) {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mutex_);
    // The queue stays: an async_write in flight may still read its front buffer until its
    // handler runs; the queue dies with the connection.
    closed_ = true;
  }
  std::error_code ignored;
  socket_.shutdown(socket_type::shutdown_both, ignored);
  socket_.close(ignored);
  if (auto on_closed = std::move(handlers_.on_closed)) on_closed(why);
  // Drop the handlers: they usually capture the owner of this connection.
  handlers_ = {};
}

}  // namespace vss::ipc
