#!/usr/bin/env bash
# The spinkick run on the GPU machine (16 cores, one H200, Python 3.12; ../shared/gpu/README.md),
# as one device call: build pybullet there, then train spinkick for MINUTES with
# args/humanoid_spinkick_relative.txt (relative PD targets, exp-map actions, AWR temperature 0.25,
# 20 s training episodes from 0.5M samples and the exploration std halved from 1.8M: the best from 0
# on two seeds to 3M, bench/results/learning_speed) and twice the gradient steps (1.12x on
# relative targets at 1M, and nearly free where the learner has a GPU),
# continuing from runs/gpu_spinkick/ when a previous call left a checkpoint there, and leave
# model.pt (no replay buffer: 14.8 MB) and log.csv in $OUT to be committed back to that folder.
#
# Prepare once, on the CPU machine, in the checkout:
#   echo /.gpu/ >> .git/info/exclude
#   bash ../shared/gpu/make-pybullet-sdist.sh .gpu
#   python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl \
#     gymnasium==$(pip show gymnasium | sed -n 's/^Version: //p') farama-notifications==0.0.6
# Then the device call, carrying .gpu:
#   MINUTES=7 bash bench/gpu_spinkick.sh
# A dry run here, with this machine's pybullet and no build: SKIP_BUILD=1 OUT=/tmp/out MINUTES=1 bash ...
set -euo pipefail
export PYTHONUNBUFFERED=1
MINUTES=${MINUTES:-7}
OUT=${OUT:?OUT: the folder that comes back}
RUN=${RUN:-/tmp/gpu_spinkick}
SAVED=runs/gpu_spinkick

if [ -z "${SKIP_BUILD:-}" ]; then
    T=$(mktemp -d)
    tar xzf .gpu/pybullet-src.tar.gz -C "$T"
    CFLAGS="-O3 -march=native" CXXFLAGS="-O3 -march=native" \
        python3 -m pip wheel -q --no-deps --no-build-isolation -w "$T/w" "$T"/pybullet-*/
    python3 -m pip install -q --no-index --no-deps --target "$T/site" "$T"/w/*.whl .gpu/whl/*.whl
    python3 setup.py -q build_ext --inplace
    export PYTHONPATH="$PWD:$T/site"
else
    export PYTHONPATH="$PWD"
fi
nproc
python3 -c "import torch, pybullet, gymnasium; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"

mkdir -p "$RUN"
if [ -f "$SAVED/model.pt" ]; then
    cp "$SAVED/model.pt" "$SAVED/log.csv" "$RUN/"
fi
# SIGINT at the deadline: the trainer finishes its iteration, writes model.pt atomically and exits
timeout -s INT -k 60 "$((MINUTES * 60))" python3 mimic/train.py --arg_file args/humanoid_spinkick_relative.txt \
    --actor_steps 400 --critic_steps 200 \
    --seed 0 --output_dir "$RUN" --on_existing resume --save_buffer false --plot_every 0 \
    2>&1 | tee "$OUT/train.txt" || true
cp "$RUN/model.pt" "$RUN/log.csv" "$OUT/"
ls -la "$OUT"
