#include "service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace callgate::app {
namespace {

void notify(std::string_view state, std::string_view status)
{
    std::string message(state);
    message += "\nSTATUS=";
    message += status;
    ::sd_notify(0, message.c_str());
}

} // namespace

void notify_ready(std::string_view status) { notify("READY=1", status); }

void notify_stopping(std::string_view status) { notify("STOPPING=1", status); }

} // namespace callgate::app
