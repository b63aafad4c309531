// Uses the installed openvss package through its umbrella header only, as a user would.
// Prints "openvss package consumer: OK ..." and exits 0 when every check passes; otherwise names
// each failed check and exits 1.

#include <vss/ipc/writer_client.hpp>
#include <vss/vss.hpp>

#if defined(OPENVSS_CONSUMER_WITH_MOCKS)
#include <vss/mocks/mocks.hpp>
#endif

#include <asio/io_context.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "openvss package consumer: FAILED: " << what << '\n';
    ++failures;
  }
}

}  // namespace

int main() {
  const std::error_code ec = vss::make_error_code(vss::errc::bad_state);
  const std::string message = ec.message();
  check(message.find("VSS_E_BAD_STATE") != std::string::npos,
        "make_error_code(errc::bad_state).message() names VSS_E_BAD_STATE; it is \"" + message +
            "\"");
  check(static_cast<bool>(ec), "make_error_code(errc::bad_state) is an error");

#if defined(OPENVSS_CONSUMER_WITH_MOCKS)
  // The installed openvss::mocks: a whole backup under a fault plan, in virtual time.
  vss::mocks::backup_scenario scenario(
      {.writers = 3, .plan = vss::mocks::fault_plan::from_text("writer[1].freeze=hang")});
  const auto r = scenario.run();
  check(r.finished, "openvss::mocks backup_scenario finished");
  check(r.violations.empty(),
        "openvss::mocks backup_scenario kept every invariant:\n" + r.timeline);
  check(r.writers.size() == 3, "openvss::mocks backup_scenario reports three writers");
#endif

  // The installed openvss::ipc: a writer client with no daemon keeps trying and says why.
  {
    asio::io_context io;
    vss::ipc::writer_client client(io.get_executor(),
                                   {.socket_path = "/nonexistent/openvss-consumer.sock"});
    client.start();
    io.run_for(std::chrono::milliseconds(50));
    check(client.state() == vss::ipc::client_state::connecting,
          "openvss::ipc writer_client without a daemon is connecting");
    check(client.last_error().find("cannot connect") != std::string::npos,
          "openvss::ipc writer_client names the failed connect: \"" + client.last_error() + "\"");
    client.stop();
    io.run_for(std::chrono::milliseconds(10));
  }

  if (failures != 0) {
    return 1;
  }
  std::cout << "openvss package consumer: OK (openvss " << OPENVSS_CONSUMER_FOUND_VERSION << ", \""
            << message << "\")\n";
  return 0;
}
