#!/usr/bin/env bash
# Regenerates onair's default prompt set: English and Mandarin announcements spoken by espeak-ng,
# and a royalty-free hold-music loop synthesised by sox. Output: 8 kHz mono µ-law WAVs (8 kB/s,
# what the media layer loads without resampling) in en/, zh/ and hold/ next to this script.
#
# Usage: media/prompts/generate.sh            (needs espeak-ng and sox on PATH)
# The WAVs are committed; run this only to change the wording, then check them with `soxi`.
set -euo pipefail

cd "$(dirname "$0")"
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool is required" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say VOICE OUT TEXT — speak TEXT, trim leading/trailing silence, normalise to -3 dBFS peak and
# store as 8 kHz mono µ-law. sox's rate effect low-passes before decimating, so no aliasing;
# -D turns off dither, so a re-run reproduces the committed files byte for byte.
say() {
  local voice=$1 out=$2 text=$3
  mkdir -p "$(dirname "$out")"
  espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" "$text"
  sox -D "$tmp/raw.wav" -r 8000 -c 1 -e u-law -b 8 "$out" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3
}

# ---- English -------------------------------------------------------------------------------
en() { say en-us "en/$1.wav" "$2"; }
en welcome            "Welcome, and thank you for calling."
en menu               "Press 1 for orders, 2 for service, 3 to request a callback."
en you-are-number     "You are number"
en in-queue           "in the queue."
en estimated-wait     "Your estimated wait time is"
en minutes            "minutes"
en seconds            "seconds"
en callback-offer     "If you prefer, we can call you back. Press 3 to request a callback."
en callback-confirmed "Thank you. We will call you back as soon as an agent is free."
en goodbye            "Thank you for calling. Goodbye."
en invalid-choice     "Sorry, that is not a valid choice."
en all-agents-busy    "All our agents are busy at the moment. Please stay on the line."
en enter-order        "Please enter your order number, then press the hash key."
# IVR self-service (engine/calls/query.ts): order-intro + digits + order-status/<status> +
# order-amount + amount; promotion-today + products/<sku> + promotion-price + amount [+ gift].
en order-intro        "Order number"
en order-amount       "The order amount is"
en promotion-today    "Today's special offer:"
en promotion-price    "at the special price of"
en promotion-gift     "with a free gift:"
en query-not-found    "Sorry, we could not find anything for you."
en query-failed       "Sorry, we cannot look that up right now. Please hold for an agent."
# The status by SMS after the readout (a menu, then a query orderSms; docs/shop.md, Notifications on request).
en order-sms-offer    "To receive this by text message, press 1."
en order-sms-sent     "We are sending it by text message to the phone number of the order."
# Product introductions (engine/calls/products.ts): products-intro + (product-for + name +
# product-press + N) per product; description + product-price + amount [+ promotion-price +
# amount] [+ promotion-gift + name] + product-agent. Names and descriptions: run-time prompts.
en products-intro     "Here are our products."
en product-for        "For"
en product-press      "press"
en product-price      "The price is"
en product-agent      "To order it from an agent, press 1. To hear the list again, press 2."
en order-status/ordered   "has been received and is waiting for review."
en order-status/reviewed  "has been confirmed and will be shipped soon."
en order-status/shipped   "has been shipped."
en order-status/delivered "has been delivered."
en order-status/settled   "has been delivered and paid."
en order-status/refused   "was refused on delivery."
en order-status/returned  "has been returned."
en order-status/exchanged "has been exchanged."
en order-status/cancelled "has been cancelled."
en money/yuan         "yuan"
en money/fen          "fen"
# The demo products' names (crm-adapter/shop/demo.ts), products/<sku in lower case>.
en products/wok-01    "a cast-iron wok"
en products/knife-set "a stainless knife set of five"
en products/apron     "a cotton apron"

words=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
  fifteen sixteen seventeen eighteen nineteen twenty)
for n in "${!words[@]}"; do en "numbers/$n" "${words[$n]}"; done
tens=([30]=thirty [40]=forty [50]=fifty [60]=sixty [70]=seventy [80]=eighty [90]=ninety)
for n in "${!tens[@]}"; do en "numbers/$n" "${tens[$n]}"; done
en numbers/hundred  "hundred"
en numbers/thousand "thousand"

# ---- Mandarin -----------------------------------------------------------------------------
# Voice cmn-latn-pinyin is espeak-ng's Mandarin (cmn) with the pinyin reading of latin text; the
# plain `cmn` voice reads the pinyin it derives from hanzi with English letter rules ("huan" comes
# out as English), so the announcements would be unintelligible (check with `espeak-ng -x`).
# Sentence order for the position announcement: you-are-number + N + in-queue = 您是第 N 位…
zh() { say cmn-latn-pinyin "zh/$1.wav" "$2"; }
zh welcome            "欢迎致电订购热线，感谢您的来电。"
zh menu               "订购请按1，售后服务请按2，预约回电请按3。"
zh you-are-number     "您是第"
zh in-queue           "位，请耐心等候。"
zh estimated-wait     "预计等待时间为"
zh minutes            "分钟"
zh seconds            "秒"
zh callback-offer     "如需我们给您回电，请按3。"
zh callback-confirmed "谢谢，坐席空闲后我们会尽快给您回电。"
zh goodbye            "感谢您的来电，再见。"
zh invalid-choice     "对不起，您的选择无效。"
zh all-agents-busy    "所有坐席都在忙，请不要挂机。"
zh enter-order        "请输入您的订单号，以井号键结束。"
zh order-intro        "您的订单"
zh order-amount       "订单金额为"
zh promotion-today    "今日特惠："
zh promotion-price    "特价"
zh promotion-gift     "另赠"
zh query-not-found    "对不起，没有查到相关信息。"
zh query-failed       "对不起，暂时无法查询，正在为您转接人工服务，请稍候。"
zh order-sms-offer    "如需短信接收，请按1。"
zh order-sms-sent     "我们将以短信发送到订单的收货手机。"
zh products-intro     "为您介绍以下商品。"
zh product-for        "了解"
zh product-press      "请按"
zh product-price      "价格为"
zh product-agent      "订购请按1，重听商品列表请按2。"
zh order-status/ordered   "已收到，正在等待审核。"
zh order-status/reviewed  "已确认，即将发货。"
zh order-status/shipped   "已发货。"
zh order-status/delivered "已送达。"
zh order-status/settled   "已签收并结清。"
zh order-status/refused   "已被拒收。"
zh order-status/returned  "已退货。"
zh order-status/exchanged "已换货。"
zh order-status/cancelled "已取消。"
zh money/yuan         "元"
zh money/jiao         "角"
zh money/fen          "分"
zh products/wok-01    "铸铁炒锅"
zh products/knife-set "不锈钢刀具五件套"
zh products/apron     "棉质围裙"

hanzi=(零 一 二 三 四 五 六 七 八 九 十)
for n in "${!hanzi[@]}"; do zh "numbers/$n" "${hanzi[$n]}"; done
zh numbers/hundred      "百"
zh numbers/thousand     "千"
zh numbers/ten-thousand "万"

# ---- Hold music ----------------------------------------------------------------------------
# I–vi–IV–V in C (C, Am, F, G), 2 s per chord, soft sine pads with slow fades so the 8 s loop
# joins without a click. All partials stay below 700 Hz, away from the DTMF frequencies
# (697–1633 Hz), so hold music never trips the in-band detector.
mkdir -p hold
chord() {
  sox -D -n -r 8000 -c 4 "$tmp/chord$1.wav" synth 2 sine "$2" sine "$3" sine "$4" sine "$5" \
    remix - fade q 0.5 2 0.6
}
chord 1 130.81 261.63 329.63 392.00   # C
chord 2 110.00 220.00 261.63 329.63   # Am
chord 3  87.31 174.61 220.00 261.63   # F
chord 4  98.00 196.00 246.94 293.66   # G
sox -D "$tmp"/chord{1,2,3,4}.wav -r 8000 -c 1 -e u-law -b 8 hold/music.wav gain -n -9

total=$(du -cb en zh hold | tail -1 | cut -f1)
echo "generate.sh: $(find en zh hold -name '*.wav' | wc -l) prompts, $total bytes" >&2
