#pragma once
// Umbrella header: the whole public API of openvss::vss.

#include "vss/async_op.hpp"
#include "vss/backup_session.hpp"
#include "vss/clock.hpp"
#include "vss/engine.hpp"
#include "vss/engine_host.hpp"
#include "vss/error.hpp"
#include "vss/id.hpp"
#include "vss/manual_clock.hpp"
#include "vss/memory_provider.hpp"
#include "vss/options.hpp"
#include "vss/provider.hpp"
#include "vss/report.hpp"
#include "vss/session_state.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"
