#pragma once

#include <string_view>

namespace callgate::app {

// Tells the service manager that started this process (systemd with
// Type=notify, through $NOTIFY_SOCKET) how it is doing. Each is a no-op when
// no service manager listens; failures are ignored (a service manager that
// vanished must not stop the server). Any thread.

// Listening and ready to serve: READY=1, with a one-line STATUS.
void notify_ready(std::string_view status);
// Draining after a stop request: STOPPING=1, with a one-line STATUS.
void notify_stopping(std::string_view status);

} // namespace callgate::app
