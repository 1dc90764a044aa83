#!/bin/sh
# `docker run IMAGE COMMAND`: sentibench's own commands go to its CLI, anything else (dvc, pytest, bash) runs as is.
case "${1:-}" in
  prepare|preprocess|pretrain|train|evaluate|package|predict|profile|repro-check|verify|ledger|gpu-check|compare|history|aggregate|report|exps|benchmark|levers|scaling)
    exec sentibench "$@" ;;
  "") exec sentibench ;;
  *) exec "$@" ;;
esac
