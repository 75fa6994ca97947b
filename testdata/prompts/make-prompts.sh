#!/usr/bin/env bash
# Regenerates the demo prompt set (8 kHz mono 16-bit PCM WAV) with espeak-ng and sox,
# so the demo needs no network and no recorded voices. Run from anywhere:
#   testdata/prompts/make-prompts.sh
set -euo pipefail
cd "$(dirname "$0")"
lang=en
out=$lang
mkdir -p "$out/num"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say NAME TEXT: speak TEXT, trim leading/trailing silence, convert to telephone format.
say() {
  espeak-ng -v en-us -s 155 -w "$tmp/raw.wav" "$2"
  sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$1.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.15
}

say greeting      "Welcome to the Hotline customer service centre."
say menu          "For billing, press 1. For technical support, press 2. To leave a message, press 3. To speak to an agent, press 0."
say invalid       "Sorry, that is not a valid choice."
say noinput       "Sorry, we did not hear your choice."
say blocked       "We are sorry, we cannot take your call."
say goodbye       "Thank you for calling. Goodbye."
say leave-message "Please leave your message after the tone. Press hash when you have finished."
say hold          "Please hold. Your call is important to us. To leave a message instead, press star."
say position      "You are number"
say in-queue      "in the queue."
say wait          "Your expected waiting time is about"
say minutes       "minutes."
say agent         "Agent"
say survey        "Please rate our service. Press 1 to 5, where 5 is excellent."
say thank-you     "Thank you for your feedback."
say message-saved "Your message has been recorded."
say callback-offer   "To be called back without losing your place in the queue, press 9."
say callback-number  "We will call you back at"
say callback-confirm "If this number is right, press 1. To enter another number, press 2."
say callback-enter   "Please enter the number to call, followed by the hash key."
say callback-kept    "Thank you. You keep your place in the queue, and we will call you back as soon as an agent is free. Goodbye."
say connecting       "Connecting you to an agent."
say sorry-abandon    "We are sorry, all our agents are busy. We will call you again later. Goodbye."

for n in $(seq 0 19) 20 30 40 50 60 70 80 90; do say "num/$n" "$n"; done
say num/hundred  "hundred"
say num/thousand "thousand"

# Beep before recording: 1 kHz, 0.4 s.
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$out/beep.wav" synth 0.4 sine 1000 vol 0.5

# Music on hold: a gentle 10 s arpeggio (C major, A minor, F major, G major), two soft voices, faded.
notes=""
for chord in "C4 E4 G4 E4" "A3 C4 E4 C4" "F3 A3 C4 A3" "G3 B3 D4 B3"; do
  for n in $chord $chord; do
    sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/n$((${#notes}))_$n.wav" \
      synth 0.3125 pluck "$n" pluck "$(echo "$n" | tr '34' '45')" fade 0 0.3125 0.1 vol 0.35
    notes="$notes $tmp/n$((${#notes}))_$n.wav"
  done
done
# shellcheck disable=SC2086
sox $notes "$tmp/melody.wav"
sox "$tmp/melody.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/moh.wav" fade 0.2 0 0.5
du -sh "$out"
