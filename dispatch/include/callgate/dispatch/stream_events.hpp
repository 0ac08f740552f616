#pragma once

// The frames of a bridged call (docs/edge-protocol.md, docs/media-stream.md)
// by their `event` name, and its close codes. media_bridge.cpp reads and
// writes exactly these; docs/asyncapi.json documents them and a test checks
// the document against the lists below, both ways.

#include <cstdint>
#include <string_view>

namespace callgate::dispatch::stream_events {

inline constexpr std::string_view incoming_call = "incoming_call"; // edge → engine, first
inline constexpr std::string_view decision = "decision";           // engine → edge, first
inline constexpr std::string_view start = "start";                 // engine → client, first
inline constexpr std::string_view media = "media";
inline constexpr std::string_view dtmf = "dtmf";
inline constexpr std::string_view stop = "stop";
inline constexpr std::string_view clear = "clear";
inline constexpr std::string_view audio_done = "audio_done";
inline constexpr std::string_view mark = "mark";
inline constexpr std::string_view text = "text";
inline constexpr std::string_view transcript = "transcript";

// Client → edge control frames: relayed unchanged, never dropped while the
// call lasts. (Edge → client, the one control frame is dtmf.)
inline constexpr std::string_view client_control[] = {clear, audio_done, mark, text, transcript};

// Each direction of each WebSocket, by the events callgate reads or writes
// there (binary audio frames and unknown events, relayed unchanged, aside).
inline constexpr std::string_view read_from_edge[] = {incoming_call, media, dtmf, stop};
inline constexpr std::string_view written_to_edge[] = {decision, stop, media, clear, audio_done, mark, text, transcript};
inline constexpr std::string_view written_to_client[] = {start, media, dtmf, stop};
inline constexpr std::string_view read_from_client[] = {media, clear, audio_done, mark, text, transcript, stop};

// Close codes callgate sends.
inline constexpr std::uint16_t close_normal = 1000;       // after a reject, or when a call ends
inline constexpr std::uint16_t close_policy = 1008;       // a bad first frame, or peer_flood
inline constexpr std::uint16_t close_too_big = 1009;      // a message over 64 KiB (sent by the WebSocket layer)
inline constexpr std::uint16_t close_codes[] = {close_normal, close_policy, close_too_big};

} // namespace callgate::dispatch::stream_events
