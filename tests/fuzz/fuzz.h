/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h: the fuzz targets' bodies, shared by libFuzzer and the replayer.
 */
#ifndef GW_FUZZ_H
#define GW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	fuzz_request_one(const uint8_t *, size_t);
int	fuzz_history_one(const uint8_t *, size_t);
int	fuzz_reply_one(const uint8_t *, size_t);

#endif
