#!/usr/bin/env bash
# Regenerates a demo prompt set (8 kHz mono 16-bit PCM WAV) with espeak-ng and sox,
# so the demo needs no network and no recorded voices. Run from anywhere:
#   testdata/prompts/make-prompts.sh        # English (en), voice en-us
#   testdata/prompts/make-prompts.sh zh     # Mandarin (zh), voice cmn
# A set holds the flow's prompts and the fragments `say` joins into numbers,
# digit strings, money and durations (see ivr/say.go for which it needs).
# Only files that do not exist yet are made, unless FORCE=1: a newer
# espeak-ng must not silently change prompts the tests compare against.
set -euo pipefail
cd "$(dirname "$0")"
lang=${1:-en}
out=$lang
mkdir -p "$out/num" "$out/money" "$out/time"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $lang in
en) voice=en-us speed=155 ;;
zh) voice=cmn speed=150 ;;
*) echo "unknown language $lang (en, zh)" >&2; exit 2 ;;
esac

# say NAME TEXT: speak TEXT, trim leading/trailing silence, convert to telephone format.
say() {
  [[ -e "$out/$1.wav" && "${FORCE:-}" != 1 ]] && return 0
  espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$2"
  sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$1.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.15
}

if [[ $lang == en ]]; then
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
  say money/yuan   "yuan"
  say money/fen    "fen"
  say money/minus  "minus"
  say time/hour    "hour"
  say time/hours   "hours"
  say time/minute  "minute"
  say time/minutes "minutes"
  say time/second  "second"
  say time/seconds "seconds"
else
  say greeting      "欢迎致电热线客户服务中心。"
  say menu          "账单查询请按一，技术支持请按二，留言请按三，人工服务请按零。"
  say invalid       "对不起，您的选择无效。"
  say noinput       "对不起，我们没有听到您的选择。"
  say blocked       "很抱歉，我们无法受理您的来电。"
  say goodbye       "感谢您的来电，再见。"
  say leave-message "请在提示音后留言，留言完毕请按井号键。"
  say hold          "请稍候，您的来电对我们很重要。如需留言，请按星号键。"
  say position      "您目前排在第"
  say in-queue      "位。"
  say wait          "预计等待时间约为"
  say minutes       "分钟。"
  say agent         "为您服务的是工号"
  say survey        "请为我们的服务评分，请按一到五，五分为非常满意。"
  say thank-you     "感谢您的评价。"
  say message-saved "您的留言已录制。"
  say callback-offer   "如需保留排队位置并由我们回电，请按九。"
  say callback-number  "我们将回电至"
  say callback-confirm "号码正确请按一，输入其他号码请按二。"
  say callback-enter   "请输入回电号码，并以井号键结束。"
  say callback-kept    "谢谢。您的排队位置已保留，坐席空闲时我们将立即给您回电。再见。"
  say connecting       "正在为您接通坐席。"
  say sorry-abandon    "很抱歉，坐席全忙，我们稍后再给您回电。再见。"

  # Mandarin reads numbers from ten digits and four place words (ivr/say.go).
  i=0
  for w in 零 一 二 三 四 五 六 七 八 九 十; do say "num/$i" "$w"; i=$((i + 1)); done
  say num/hundred      "百"
  say num/thousand     "千"
  say num/ten-thousand "万"
  say num/liang        "两"   # 2 before a measure word or a place: 两千, 两分钟
  say num/yao          "幺"   # 1 in digit strings: 工号幺零零幺
  say money/yuan       "元"
  say money/jiao       "角"
  say money/fen        "分"
  say money/minus      "负"
  say time/hours       "小时"
  say time/minutes     "分钟"
  say time/seconds     "秒"
fi

# Beep before recording: 1 kHz, 0.4 s.
if [[ ! -e "$out/beep.wav" || "${FORCE:-}" == 1 ]]; then
  sox -n -r 8000 -c 1 -b 16 -e signed-integer "$out/beep.wav" synth 0.4 sine 1000 vol 0.5
fi

# Music on hold: a gentle 10 s arpeggio (C major, A minor, F major, G major), two soft voices, faded.
if [[ ! -e "$out/moh.wav" || "${FORCE:-}" == 1 ]]; then
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
fi
du -sh "$out"
