#!/usr/bin/env python3
# ruff: noqa: E501
"""Generate the Aisle demo data: assets/demo/{stores,products,inventory}.csv.

Deterministic (every random draw is seeded from SEED plus the item it is for, so
adding a product does not change the others) and uses only the stdlib and the
project's ``codes`` package (the catalogue CSV and GTIN rules). All GTINs are restricted-circulation numbers (prefix 20-29 for
EAN-13, 2 for EAN-8): demo codes, not real product codes.

    python scripts/make_demo_data.py           # write the three files, then check them
    python scripts/make_demo_data.py --check   # only check the existing files
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path

import assets
from codes import ids
from codes.catalog_csv import read_rows
from codes.gtin import check_digit, is_valid_gtin
from codes.measure import MeasureConfig, MeasureError, variable_measure

OUT_DIR = assets.path("demo")
SEED = "aisle-demo-v1"
LANGS = ("en", "sv", "da", "fa", "ar", "vi")

# id|name|kind|currency|locale|locales|lat|lon|address|variable_measure (codes.measure: the national weighed-item rules)
STORES = """
sthlm-city|Aisle Stockholm City|store|SEK|sv_SE|sv en fa ar vi|59.33459|18.06149|Drottninggatan 53, 111 21 Stockholm, Sweden|se
sthlm-sodermalm|Aisle Södermalm|store|SEK|sv_SE|sv en fa ar vi|59.31176|18.07559|Götgatan 78, 118 30 Stockholm, Sweden|se
cph-vesterbro|Aisle Vesterbro|store|DKK|da_DK|da en fa ar vi|55.67118|12.54706|Vesterbrogade 98, 1620 København V, Denmark|dk
wh-arlanda|Aisle Warehouse Arlanda|warehouse|SEK|sv_SE|sv en fa ar vi|59.61152|17.89962|Logistikvägen 5, 195 61 Arlandastad, Sweden|se
"""

# sku|brand|category|vision_label|unit|price SEK (Stockholm City)|en|sv|da|fa|ar|vi
# Fruit and vegetables: loose produce has no brand; "kg" items are priced per kg.
PRODUCTS = """
FRU-APL-GOLDEN||fruit|Golden-Delicious|kg|29.95|Golden Delicious apples|Äpple Golden Delicious|Æbler Golden Delicious|سیب گلدن دلیشس|تفاح جولدن ديليشس|Táo Golden Delicious
FRU-APL-GRANNY||fruit|Granny-Smith|kg|32.95|Granny Smith apples|Äpple Granny Smith|Æbler Granny Smith|سیب گرنی اسمیت|تفاح جراني سميث|Táo Granny Smith
FRU-APL-PINKLADY||fruit|Pink-Lady|kg|39.95|Pink Lady apples|Äpple Pink Lady|Æbler Pink Lady|سیب پینک لیدی|تفاح بينك ليدي|Táo Pink Lady
FRU-APL-REDDEL||fruit|Red-Delicious|kg|29.95|Red Delicious apples|Äpple Red Delicious|Æbler Red Delicious|سیب رد دلیشس|تفاح ريد ديليشس|Táo Red Delicious
FRU-APL-ROYALGALA||fruit|Royal-Gala|kg|27.95|Royal Gala apples|Äpple Royal Gala|Æbler Royal Gala|سیب رویال گالا|تفاح رويال غالا|Táo Royal Gala
FRU-AVOCADO||fruit|Avocado|each|14.95|Avocado|Avokado|Avocado|آووکادو|أفوكادو|Quả bơ
FRU-BANANA||fruit|Banana|kg|24.95|Bananas|Banan|Bananer|موز|موز|Chuối
FRU-KIWI||fruit|Kiwi|kg|39.95|Kiwi fruit|Kiwi|Kiwi|کیوی|كيوي|Quả kiwi
FRU-LEMON||fruit|Lemon|kg|34.95|Lemons|Citron|Citroner|لیمو زرد|ليمون أصفر|Chanh vàng
FRU-LIME||fruit|Lime|kg|49.95|Limes|Lime|Limefrugter|لیمو سبز (لایم)|ليمون أخضر (لايم)|Chanh xanh
FRU-MANGO||fruit|Mango|each|19.95|Mango|Mango|Mango|انبه|مانجو|Xoài
FRU-MELON-CANTALOUPE||fruit|Cantaloupe|each|29.95|Cantaloupe melon|Cantaloupemelon|Cantaloupemelon|طالبی|شمام كنتالوب|Dưa lưới Cantaloupe
FRU-MELON-GALIA||fruit|Galia-Melon|each|29.95|Galia melon|Galiamelon|Galiamelon|خربزه گالیا|شمام جاليا|Dưa lưới Galia
FRU-MELON-HONEYDEW||fruit|Honeydew-Melon|each|34.95|Honeydew melon|Honungsmelon|Honningmelon|خربزه عسلی|شمام عسلي|Dưa mật (honeydew)
FRU-WATERMELON||fruit|Watermelon|kg|19.95|Watermelon|Vattenmelon|Vandmelon|هندوانه|بطيخ|Dưa hấu
FRU-NECTARINE||fruit|Nectarine|kg|39.95|Nectarines|Nektarin|Nektariner|شلیل|نكتارين|Xuân đào
FRU-ORANGE||fruit|Orange|kg|24.95|Oranges|Apelsin|Appelsiner|پرتقال|برتقال|Cam
FRU-PAPAYA||fruit|Papaya|each|29.95|Papaya|Papaya|Papaya|پاپایا|بابايا|Đu đủ
FRU-PASSION||fruit|Passion-Fruit|each|9.95|Passion fruit|Passionsfrukt|Passionsfrugt|پشن‌فروت|فاكهة الباشن فروت|Chanh dây
FRU-PEACH||fruit|Peach|kg|39.95|Peaches|Persika|Ferskner|هلو|خوخ|Quả đào
FRU-PEAR-ANJOU||fruit|Anjou|kg|34.95|Anjou pears|Päron Anjou|Pærer Anjou|گلابی آنژو|كمثرى أنجو|Lê Anjou
FRU-PEAR-CONFERENCE||fruit|Conference|kg|32.95|Conference pears|Päron Conference|Pærer Conference|گلابی کنفرانس|كمثرى كونفرنس|Lê Conference
FRU-PEAR-KAISER||fruit|Kaiser|kg|36.95|Kaiser pears|Päron Kaiser|Pærer Kaiser|گلابی کایزر|كمثرى كايزر|Lê Kaiser
FRU-PINEAPPLE||fruit|Pineapple|each|29.95|Pineapple|Ananas|Ananas|آناناس|أناناس|Dứa
FRU-PLUM||fruit|Plum|kg|39.95|Plums|Plommon|Blommer|آلو|برقوق|Mận
FRU-POMEGRANATE||fruit|Pomegranate|each|17.95|Pomegranate|Granatäpple|Granatæble|انار|رمان|Quả lựu
FRU-GRAPEFRUIT-RED||fruit|Red-Grapefruit|kg|29.95|Red grapefruit|Röd grapefrukt|Rød grapefrugt|گریپ‌فروت قرمز|جريب فروت أحمر|Bưởi chùm đỏ
FRU-SATSUMAS||fruit|Satsumas|kg|29.95|Satsumas|Satsumas|Satsuma-mandariner|نارنگی ساتسوما|يوسفي ساتسوما|Quýt Satsuma
JUI-BRAVO-APPLE|Bravo|juice|Bravo-Apple-Juice|2 l|39.95|Bravo Apple Juice|Bravo Äppeljuice|Bravo Æblejuice|آب سیب Bravo|عصير تفاح Bravo|Nước ép táo Bravo
JUI-BRAVO-ORANGE|Bravo|juice|Bravo-Orange-Juice|2 l|39.95|Bravo Orange Juice|Bravo Apelsinjuice|Bravo Appelsinjuice|آب پرتقال Bravo|عصير برتقال Bravo|Nước cam Bravo
JUI-GODMORGON-APPLE|God Morgon|juice|God-Morgon-Apple-Juice|1 l|32.95|God Morgon Apple Juice|God Morgon Äpple|God Morgon Æble|آب سیب God Morgon|عصير تفاح God Morgon|Nước ép táo God Morgon
JUI-GODMORGON-ORANGE|God Morgon|juice|God-Morgon-Orange-Juice|1 l|32.95|God Morgon Orange Juice|God Morgon Apelsin|God Morgon Appelsin|آب پرتقال God Morgon|عصير برتقال God Morgon|Nước cam God Morgon
JUI-GODMORGON-ORA-RGF|God Morgon|juice|God-Morgon-Orange-Red-Grapefruit-Juice|1 l|32.95|God Morgon Orange & Red Grapefruit Juice|God Morgon Apelsin & Röd grapefrukt|God Morgon Appelsin & Rød grapefrugt|آب پرتقال و گریپ‌فروت قرمز God Morgon|عصير برتقال وجريب فروت أحمر God Morgon|Nước ép cam và bưởi đỏ God Morgon
JUI-GODMORGON-RGF|God Morgon|juice|God-Morgon-Red-Grapefruit-Juice|1 l|32.95|God Morgon Red Grapefruit Juice|God Morgon Röd grapefrukt|God Morgon Rød grapefrugt|آب گریپ‌فروت قرمز God Morgon|عصير جريب فروت أحمر God Morgon|Nước ép bưởi đỏ God Morgon
JUI-TROP-APPLE|Tropicana|juice|Tropicana-Apple-Juice|1 l|36.95|Tropicana Apple Juice|Tropicana Äpple|Tropicana Æble|آب سیب Tropicana|عصير تفاح Tropicana|Nước ép táo Tropicana
JUI-TROP-GOLDEN-GF|Tropicana|juice|Tropicana-Golden-Grapefruit|1 l|36.95|Tropicana Golden Grapefruit Juice|Tropicana Golden Grapefrukt|Tropicana Golden Grapefrugt|آب گریپ‌فروت طلایی Tropicana|عصير جريب فروت ذهبي Tropicana|Nước ép bưởi vàng Tropicana
JUI-TROP-SMOOTH|Tropicana|juice|Tropicana-Juice-Smooth|1 l|36.95|Tropicana Smooth Orange Juice (no pulp)|Tropicana Smooth Apelsin utan fruktkött|Tropicana Smooth Appelsin uden frugtkød|آب پرتقال بدون تفاله Tropicana Smooth|عصير برتقال بدون لب Tropicana Smooth|Nước cam không tép Tropicana Smooth
JUI-TROP-MANDARIN|Tropicana|juice|Tropicana-Mandarin-Morning|1 l|36.95|Tropicana Mandarin Morning Juice|Tropicana Mandarin Morning|Tropicana Mandarin Morning|آب نارنگی و پرتقال Tropicana Mandarin Morning|عصير يوسفي وبرتقال Tropicana Mandarin Morning|Nước ép quýt và cam Tropicana Mandarin Morning
DAI-MILK-ARLA-ECO-15|Arla|dairy|Arla-Ecological-Medium-Fat-Milk|1 l|19.95|Arla Organic Semi-Skimmed Milk 1.5%|Arla Ekologisk Mellanmjölk 1,5%|Arla Økologisk Letmælk 1,5%|شیر نیم‌چرب ارگانیک Arla ۱٫۵٪|حليب نصف دسم عضوي Arla 1.5%|Sữa tươi ít béo hữu cơ Arla 1,5%
DAI-MILK-ARLA-LF-15|Arla|dairy|Arla-Lactose-Medium-Fat-Milk|1 l|22.95|Arla Lactose-Free Semi-Skimmed Milk Drink 1.5%|Arla Laktosfri Mellanmjölkdryck 1,5%|Arla Laktosefri Letmælk 1,5%|شیر نیم‌چرب بدون لاکتوز Arla ۱٫۵٪|حليب نصف دسم خالٍ من اللاكتوز Arla 1.5%|Sữa ít béo không lactose Arla 1,5%
DAI-MILK-ARLA-15|Arla|dairy|Arla-Medium-Fat-Milk|1 l|15.95|Arla Semi-Skimmed Milk 1.5%|Arla Mellanmjölk 1,5%|Arla Letmælk 1,5%|شیر نیم‌چرب Arla ۱٫۵٪|حليب نصف دسم Arla 1.5%|Sữa tươi ít béo Arla 1,5%
DAI-MILK-ARLA-3|Arla|dairy|Arla-Standard-Milk|1 l|16.90|Arla Whole Milk 3%|Arla Standardmjölk 3%|Arla Sødmælk 3%|شیر پرچرب Arla ۳٪|حليب كامل الدسم Arla 3%|Sữa tươi nguyên kem Arla 3%
DAI-MILK-GARANT-ECO-15|Garant|dairy|Garant-Ecological-Medium-Fat-Milk|1 l|17.50|Garant Organic Semi-Skimmed Milk 1.5%|Garant Ekologisk Mellanmjölk 1,5%|Garant Økologisk Letmælk 1,5%|شیر نیم‌چرب ارگانیک Garant ۱٫۵٪|حليب نصف دسم عضوي Garant 1.5%|Sữa tươi ít béo hữu cơ Garant 1,5%
DAI-MILK-GARANT-ECO-3|Garant|dairy|Garant-Ecological-Standard-Milk|1 l|18.50|Garant Organic Whole Milk 3%|Garant Ekologisk Standardmjölk 3%|Garant Økologisk Sødmælk 3%|شیر پرچرب ارگانیک Garant ۳٪|حليب كامل الدسم عضوي Garant 3%|Sữa tươi nguyên kem hữu cơ Garant 3%
PLB-OATLY-OATGURT|Oatly|plant-based|Oatly-Natural-Oatghurt|1 kg|32.95|Oatly Oatgurt Natural|Oatly Havregurt Naturell|Oatly Havregurt Naturel|ماست جو دوسر ساده Oatly|زبادي شوفان سادة Oatly|Sữa chua yến mạch vị tự nhiên Oatly
PLB-OATLY-OATDRINK|Oatly|plant-based|Oatly-Oat-Milk|1 l|22.95|Oatly Oat Drink|Oatly Havredryck|Oatly Havredrik|نوشیدنی جو دوسر Oatly|مشروب الشوفان Oatly|Sữa yến mạch Oatly
DAI-SOURCREAM-ARLA-ECO|Arla|dairy|Arla-Ecological-Sour-Cream|3 dl|19.95|Arla Organic Sour Cream 12%|Arla Ekologisk Gräddfil 12%|Arla Økologisk Cremefraiche 12%|خامه ترش ارگانیک Arla ۱۲٪|قشدة حامضة عضوية Arla 12%|Kem chua hữu cơ Arla 12%
DAI-SOURCREAM-ARLA|Arla|dairy|Arla-Sour-Cream|3 dl|15.95|Arla Sour Cream 12%|Arla Gräddfil 12%|Arla Cremefraiche 12%|خامه ترش Arla ۱۲٪|قشدة حامضة Arla 12%|Kem chua Arla 12%
DAI-FIL-ARLA|Arla|dairy|Arla-Sour-Milk|1 kg|17.95|Arla Filmjölk Sour Milk 3%|Arla Filmjölk 3%|Arla Syrnet mælk 3%|شیر تخمیری (فیل‌میولک) Arla ۳٪|حليب رائب Arla 3%|Sữa lên men Arla 3%
PLB-ALPRO-BLUEBERRY|Alpro|plant-based|Alpro-Blueberry-Soyghurt|750 g|29.95|Alpro Blueberry Soya Yoghurt Alternative|Alpro Sojagurt Blåbär|Alpro Sojayoghurt Blåbær|ماست سویا با طعم بلوبری Alpro|زبادي الصويا بالتوت الأزرق Alpro|Sữa chua đậu nành việt quất Alpro
PLB-ALPRO-VANILLA|Alpro|plant-based|Alpro-Vanilla-Soyghurt|750 g|29.95|Alpro Mild & Creamy Vanilla Soya Yoghurt Alternative|Alpro Sojagurt Mild & Krämig Vanilj|Alpro Sojayoghurt Mild & Cremet Vanilje|ماست سویا با طعم وانیل Alpro|زبادي الصويا بالفانيليا Alpro|Sữa chua đậu nành vani Alpro
PLB-ALPRO-SOY-FRESH|Alpro|plant-based|Alpro-Fresh-Soy-Milk|1 l|24.95|Alpro Fresh Soya Drink|Alpro Sojadryck Färsk|Alpro Sojadrik Frisk|شیر سویا تازه Alpro|مشروب الصويا الطازج Alpro|Sữa đậu nành tươi Alpro
PLB-ALPRO-SOY-UHT|Alpro|plant-based|Alpro-Shelf-Soy-Milk|1 l|22.95|Alpro Soya Drink (long life)|Alpro Sojadryck Hållbar|Alpro Sojadrik Holdbar|شیر سویا ماندگار Alpro|مشروب الصويا طويل الصلاحية Alpro|Sữa đậu nành tiệt trùng Alpro
DAI-YOG-ARLA-VANILLA|Arla|dairy|Arla-Mild-Vanilla-Yoghurt|1 l|27.95|Arla Mild Vanilla Yoghurt|Arla Mild Yoghurt Vanilj|Arla Mild Yoghurt Vanilje|ماست وانیلی ملایم Arla|زبادي خفيف بالفانيليا Arla|Sữa chua vani dịu nhẹ Arla
DAI-YOG-ARLA-MILD-LIGHT|Arla|dairy|Arla-Natural-Mild-Low-Fat-Yoghurt|1 l|21.95|Arla Mild Low-Fat Natural Yoghurt 0.5%|Arla Mild Lättyoghurt Naturell 0,5%|Arla Mild Letyoghurt Naturel 0,5%|ماست ساده ملایم کم‌چرب Arla ۰٫۵٪|زبادي سادة خفيف قليل الدسم Arla 0.5%|Sữa chua không đường ít béo Arla 0,5%
DAI-YOG-ARLA-NATURAL|Arla|dairy|Arla-Natural-Yoghurt|1 l|21.95|Arla Natural Yoghurt 3%|Arla Yoghurt Naturell 3%|Arla Yoghurt Naturel 3%|ماست ساده Arla ۳٪|زبادي سادة Arla 3%|Sữa chua không đường Arla 3%
DAI-YOG-VALIO-VANILLA|Valio|dairy|Valio-Vanilla-Yoghurt|1 kg|32.95|Valio Vanilla Yoghurt Original 2%|Valio Vaniljyoghurt Original 2%|Valio Vaniljeyoghurt Original 2%|ماست وانیلی Valio ۲٪|زبادي بالفانيليا Valio 2%|Sữa chua vani Valio 2%
DAI-YOG-YOGGI-STRAWB|Yoggi|dairy|Yoggi-Strawberry-Yoghurt|1 kg|32.95|Yoggi Strawberry Yoghurt 2%|Yoggi Yoghurt Jordgubb 2%|Yoggi Yoghurt Jordbær 2%|ماست توت‌فرنگی Yoggi ۲٪|زبادي بالفراولة Yoggi 2%|Sữa chua dâu tây Yoggi 2%
DAI-YOG-YOGGI-VANILLA|Yoggi|dairy|Yoggi-Vanilla-Yoghurt|1 l|32.95|Yoggi Madagascar Vanilla Yoghurt 2%|Yoggi Vaniljyoghurt Madagaskar 2%|Yoggi Vaniljeyoghurt Madagaskar 2%|ماست وانیل ماداگاسکار Yoggi ۲٪|زبادي بفانيليا مدغشقر Yoggi 2%|Sữa chua vani Madagascar Yoggi 2%
VEG-ASPARAGUS||vegetables|Asparagus|250 g|39.95|Green asparagus|Grön sparris|Grønne asparges|مارچوبه سبز|هليون أخضر|Măng tây xanh
VEG-AUBERGINE||vegetables|Aubergine|kg|39.95|Aubergine|Aubergine|Aubergine|بادمجان|باذنجان|Cà tím
VEG-CABBAGE||vegetables|Cabbage|kg|14.95|White cabbage|Vitkål|Hvidkål|کلم سفید|ملفوف أبيض|Bắp cải trắng
VEG-CARROTS||vegetables|Carrots|kg|14.95|Carrots|Morötter|Gulerødder|هویج|جزر|Cà rốt
VEG-CUCUMBER||vegetables|Cucumber|each|14.95|Cucumber|Gurka|Agurk|خیار|خيار|Dưa chuột
VEG-GARLIC||vegetables|Garlic|each|7.95|Garlic|Vitlök|Hvidløg|سیر|ثوم|Tỏi
VEG-GINGER||vegetables|Ginger|kg|59.95|Ginger|Ingefära|Ingefær|زنجبیل|زنجبيل|Gừng
VEG-LEEK||vegetables|Leek|kg|34.95|Leek|Purjolök|Porre|تره‌فرنگی|كراث|Tỏi tây
VEG-MUSHROOM-BROWN||vegetables|Brown-Cap-Mushroom|250 g|24.95|Brown cap mushrooms|Bruna champinjoner|Brune champignoner|قارچ قهوه‌ای|فطر بني|Nấm mỡ nâu
VEG-ONION-YELLOW||vegetables|Yellow-Onion|kg|14.95|Yellow onions|Gul lök|Gule løg|پیاز زرد|بصل أصفر|Hành tây vàng
VEG-PEPPER-GREEN||vegetables|Green-Bell-Pepper|kg|49.95|Green bell pepper|Grön paprika|Grøn peberfrugt|فلفل دلمه‌ای سبز|فلفل رومي أخضر|Ớt chuông xanh
VEG-PEPPER-ORANGE||vegetables|Orange-Bell-Pepper|kg|59.95|Orange bell pepper|Orange paprika|Orange peberfrugt|فلفل دلمه‌ای نارنجی|فلفل رومي برتقالي|Ớt chuông cam
VEG-PEPPER-RED||vegetables|Red-Bell-Pepper|kg|59.95|Red bell pepper|Röd paprika|Rød peberfrugt|فلفل دلمه‌ای قرمز|فلفل رومي أحمر|Ớt chuông đỏ
VEG-PEPPER-YELLOW||vegetables|Yellow-Bell-Pepper|kg|59.95|Yellow bell pepper|Gul paprika|Gul peberfrugt|فلفل دلمه‌ای زرد|فلفل رومي أصفر|Ớt chuông vàng
VEG-POTATO-FLOURY||vegetables|Floury-Potato|kg|14.95|Floury potatoes|Mjölig potatis|Melede kartofler|سیب‌زمینی آردی|بطاطس نشوية|Khoai tây bở
VEG-POTATO-FIRM||vegetables|Solid-Potato|kg|12.95|Firm potatoes|Fast potatis|Faste kartofler|سیب‌زمینی سفت|بطاطس متماسكة|Khoai tây thịt chắc
VEG-SWEET-POTATO||vegetables|Sweet-Potato|kg|29.95|Sweet potatoes|Sötpotatis|Søde kartofler|سیب‌زمینی شیرین|بطاطا حلوة|Khoai lang
VEG-BEETROOT||vegetables|Red-Beet|kg|19.95|Beetroot|Rödbetor|Rødbeder|چغندر قرمز|شمندر أحمر|Củ dền
VEG-TOMATO-BEEF||vegetables|Beef-Tomato|kg|49.95|Beef tomatoes|Bifftomater|Bøftomater|گوجه‌فرنگی درشت|طماطم كبيرة الحجم|Cà chua beef cỡ lớn
VEG-TOMATO||vegetables|Regular-Tomato|kg|34.95|Tomatoes|Tomater|Tomater|گوجه‌فرنگی|طماطم|Cà chua
VEG-TOMATO-VINE||vegetables|Vine-Tomato|kg|44.95|Vine tomatoes|Kvisttomater|Tomater på stilk|گوجه‌فرنگی خوشه‌ای|طماطم عنقودية|Cà chua chùm
VEG-ZUCCHINI||vegetables|Zucchini|kg|34.95|Zucchini|Zucchini|Squash|کدو سبز|كوسا|Bí ngòi
BAK-LINGONGROVA|Pågen|bakery||500 g|36.95|Pågen Lingongrova wholegrain bread with lingonberries|Pågen Lingongrova|Pågen Lingongrova rugbrød med tyttebær|نان سبوس‌دار با لینگون‌بری Pågen Lingongrova|خبز الحبوب الكاملة بالتوت البري Pågen Lingongrova|Bánh mì nguyên cám việt quất đỏ Pågen Lingongrova
BAK-GIFFLAR|Pågen|bakery||260 g|29.95|Pågen Gifflar cinnamon rolls|Pågen Gifflar Kanel|Pågen Gifflar Kanel|نان رولی کوچک دارچینی Pågen Gifflar|لفائف القرفة الصغيرة Pågen Gifflar|Bánh mì cuộn quế Pågen Gifflar
BAK-SKOGAHOLM|Skogaholm|bakery||775 g|34.95|Skogaholmslimpa Swedish loaf|Skogaholmslimpa|Skogaholmslimpa svensk franskbrød|نان قالبی سوئدی Skogaholm|رغيف خبز سويدي Skogaholm|Bánh mì ổ kiểu Thụy Điển Skogaholm
BAK-KNACK-WASA|Wasa|bakery||520 g|29.95|Wasa Husman crispbread|Wasa Husman Knäckebröd|Wasa Husman Knækbrød|نان ترد چاودار Wasa Husman|خبز الجاودار المقرمش Wasa Husman|Bánh mì giòn lúa mạch đen Wasa Husman
BAK-KANELBULLE||bakery||each|14.95|Cinnamon bun|Kanelbulle|Kanelsnegl|شیرینی دارچینی سوئدی|لفافة القرفة السويدية|Bánh quế cuộn kiểu Thụy Điển
DRY-SPAGHETTI-500|Barilla|dry-goods||500 g|19.95|Barilla Spaghetti No. 5|Barilla Spaghetti nr 5|Barilla Spaghetti nr. 5|اسپاگتی Barilla شماره ۵|سباغيتي Barilla رقم 5|Mì Ý spaghetti Barilla số 5
DRY-PENNE-500|Barilla|dry-goods||500 g|19.95|Barilla Penne Rigate|Barilla Penne Rigate|Barilla Penne Rigate|ماکارونی پنه Barilla|معكرونة بيني ريغاتي Barilla|Nui ống Penne Rigate Barilla
DRY-RICE-JASMINE|Garant|dry-goods||1 kg|32.95|Garant Jasmine Rice|Garant Jasminris|Garant Jasminris|برنج جاسمین Garant|أرز الياسمين Garant|Gạo thơm Jasmine Garant
DRY-RICE-BASMATI|Tilda|dry-goods||1 kg|54.95|Tilda Pure Basmati Rice|Tilda Basmatiris|Tilda Basmatiris|برنج باسماتی Tilda|أرز بسمتي Tilda|Gạo Basmati Tilda
DRY-OATS|AXA|dry-goods||750 g|19.95|AXA Rolled Oats|AXA Havregryn|AXA Havregryn|جو دوسر پرک AXA|رقائق الشوفان AXA|Yến mạch cán dẹt AXA
DRY-FLOUR|Kungsörnen|dry-goods||2 kg|26.95|Kungsörnen Wheat Flour|Kungsörnen Vetemjöl|Kungsörnen Hvedemel|آرد گندم Kungsörnen|دقيق القمح Kungsörnen|Bột mì Kungsörnen
DRY-SUGAR|Dansukker|dry-goods||2 kg|32.95|Dansukker Granulated Sugar|Dansukker Strösocker|Dansukker Hvidt sukker|شکر سفید Dansukker|سكر أبيض Dansukker|Đường cát trắng Dansukker
DRY-LENTILS-RED|Risenta|dry-goods||500 g|27.95|Risenta Red Lentils|Risenta Röda linser|Risenta Røde linser|عدس قرمز Risenta|عدس أحمر Risenta|Đậu lăng đỏ Risenta
DRY-CHICKPEAS|Eldorado|dry-goods||380 g|9.95|Eldorado Chickpeas (canned)|Eldorado Kikärtor|Eldorado Kikærter|نخود پخته کنسروی Eldorado|حمص معلب Eldorado|Đậu gà đóng hộp Eldorado
DRY-TOMATOES-CRUSHED|Mutti|dry-goods||400 g|19.95|Mutti Polpa Finely Chopped Tomatoes|Mutti Polpa Finkrossade tomater|Mutti Polpa Hakkede tomater|گوجه‌فرنگی خردشده Mutti Polpa|طماطم مفرومة Mutti Polpa|Cà chua nghiền Mutti Polpa
DRY-CORNFLAKES|Kellogg's|dry-goods||500 g|39.95|Kellogg's Corn Flakes|Kellogg's Corn Flakes|Kellogg's Corn Flakes|کورن‌فلکس Kellogg's|رقائق الذرة Kellogg's|Ngũ cốc bắp Kellogg's Corn Flakes
DRY-FISHSAUCE|Blue Dragon|dry-goods||150 ml|24.95|Blue Dragon Fish Sauce|Blue Dragon Fisksås|Blue Dragon Fiskesauce|سس ماهی Blue Dragon|صلصة السمك Blue Dragon|Nước mắm Blue Dragon
DRY-RICE-NOODLES|Blue Dragon|dry-goods||250 g|24.95|Blue Dragon Rice Noodles|Blue Dragon Risnudlar|Blue Dragon Risnudler|نودل برنج Blue Dragon|نودلز الأرز Blue Dragon|Bánh phở khô Blue Dragon
BEV-COFFEE-GEVALIA|Gevalia|beverages||450 g|64.95|Gevalia Medium Roast Ground Coffee|Gevalia Mellanrost Bryggkaffe|Gevalia Mellemristet Filterkaffe|قهوه فیلتری برشته متوسط Gevalia|قهوة مطحونة متوسطة التحميص Gevalia|Cà phê xay rang vừa Gevalia
BEV-COFFEE-ZOEGAS|Zoégas|beverages||450 g|69.95|Zoégas Skånerost Dark Roast Ground Coffee|Zoégas Skånerost Bryggkaffe|Zoégas Skånerost Filterkaffe|قهوه فیلتری برشته تیره Zoégas Skånerost|قهوة مطحونة داكنة التحميص Zoégas Skånerost|Cà phê xay rang đậm Zoégas Skånerost
BEV-TEA-EARLGREY|Twinings|beverages||25 pcs|32.95|Twinings Earl Grey Tea, 25 bags|Twinings Earl Grey Te, 25 påsar|Twinings Earl Grey Te, 25 breve|چای ارل گری Twinings، ۲۵ عدد تی‌بگ|شاي إيرل غراي Twinings، 25 كيسًا|Trà Earl Grey Twinings, 25 túi lọc
BEV-TEA-GREEN|Lipton|beverages||20 pcs|29.95|Lipton Green Tea, 20 bags|Lipton Grönt te, 20 påsar|Lipton Grøn te, 20 breve|چای سبز Lipton، ۲۰ عدد تی‌بگ|شاي أخضر Lipton، 20 كيسًا|Trà xanh Lipton, 20 túi lọc
BEV-WATER-LOKA|Loka|beverages||1.5 l|17.95|Loka Natural Sparkling Water|Loka Naturell Kolsyrat vatten|Loka Naturel Danskvand|آب گازدار طبیعی Loka|مياه فوارة طبيعية Loka|Nước khoáng có ga Loka
BEV-COLA|Coca-Cola|beverages||1.5 l|24.95|Coca-Cola Original|Coca-Cola Original|Coca-Cola Original|نوشابه Coca-Cola|مشروب غازي Coca-Cola|Nước ngọt Coca-Cola
SNK-OLW-GRILL|OLW|snacks||175 g|29.95|OLW Grill Chips|OLW Grillchips|OLW Grillchips|چیپس سیب‌زمینی با طعم گریل OLW|رقائق البطاطس بنكهة الشواء OLW|Khoai tây chiên vị nướng OLW
SNK-MARABOU-MILK|Marabou|snacks||200 g|34.95|Marabou Milk Chocolate|Marabou Mjölkchoklad|Marabou Mælkechokolade|شکلات شیری Marabou|شوكولاتة بالحليب Marabou|Sô-cô-la sữa Marabou
SNK-DAIM|Daim|snacks||28 g|11.95|Daim chocolate bar|Daim chokladbit|Daim chokoladebar|شکلات Daim|لوح شوكولاتة Daim|Thanh sô-cô-la Daim
SNK-KEXCHOKLAD|Cloetta|snacks||60 g|12.95|Cloetta Kexchoklad chocolate wafer|Cloetta Kexchoklad|Cloetta Kexchoklad|ویفر شکلاتی Cloetta Kexchoklad|ويفر بالشوكولاتة Cloetta Kexchoklad|Bánh xốp sô-cô-la Cloetta Kexchoklad
SNK-LAKEROL|Läkerol|snacks||25 g|12.95|Läkerol Eucalyptus pastilles|Läkerol Eucalyptus|Läkerol Eucalyptus|آب‌نبات اکالیپتوس Läkerol|حلوى الأوكالبتوس Läkerol|Kẹo ngậm khuynh diệp Läkerol
SNK-PEANUTS|Estrella|snacks||275 g|29.95|Estrella Salted Peanuts|Estrella Salta jordnötter|Estrella Saltede peanuts|بادام‌زمینی شور Estrella|فول سوداني مملح Estrella|Đậu phộng rang muối Estrella
DAI-BREGOTT|Bregott|dairy||600 g|54.95|Bregott spreadable butter blend, normal salted|Bregott Normalsaltat|Bregott Smørbar, normalsaltet|کره مخلوط قابل مالیدن Bregott|زبدة قابلة للدهن Bregott|Bơ pha Bregott vị mặn vừa
DAI-CHEESE-HUSHALL|Arla|dairy||1.1 kg|109.00|Arla Hushållsost semi-hard cheese 26%|Arla Hushållsost 26%|Arla Hushållsost skæreost 26%|پنیر نیمه‌سخت Arla Hushållsost ۲۶٪|جبنة نصف صلبة Arla Hushållsost 26%|Phô mai bán cứng Arla Hushållsost 26%
DAI-EGGS-12|Stjärnägg|dairy||12 pcs|49.95|Stjärnägg barn eggs, 12 pack|Stjärnägg Ägg frigående, 12-pack|Stjärnägg Skrabeæg, 12 stk.|تخم‌مرغ Stjärnägg، بسته ۱۲ عددی|بيض Stjärnägg، عبوة 12 بيضة|Trứng gà Stjärnägg, hộp 12 quả
DAI-WHITE-CHEESE|Apetina|dairy||200 g|29.95|Apetina white cheese in brine|Apetina Vitost i lake|Apetina Hvid ost i lage|پنیر سفید در آب‌نمک Apetina|جبنة بيضاء في محلول ملحي Apetina|Phô mai trắng ngâm muối Apetina
HOU-DISH-YES|Yes|household||500 ml|29.95|Yes Original washing-up liquid|Yes Original Diskmedel|Yes Original Opvaskemiddel|مایع ظرفشویی Yes Original|سائل غسيل الصحون Yes Original|Nước rửa chén Yes Original
HOU-LAUNDRY-VIA|Via|household||1.2 l|69.95|Via Color liquid laundry detergent|Via Color Flytande tvättmedel|Via Color Flydende vaskemiddel|مایع لباسشویی لباس‌های رنگی Via Color|منظف غسيل سائل للملابس الملونة Via Color|Nước giặt quần áo màu Via Color
HOU-TOILET-LAMBI|Lambi|household||8 pcs|54.95|Lambi toilet paper, 8 rolls|Lambi Toalettpapper, 8-pack|Lambi Toiletpapir, 8 ruller|دستمال توالت Lambi، ۸ رول|ورق تواليت Lambi، 8 لفات|Giấy vệ sinh Lambi, 8 cuộn
HOU-KITCHEN-SERLA|Serla|household||4 pcs|39.95|Serla kitchen towels, 4 rolls|Serla Hushållspapper, 4-pack|Serla Køkkenruller, 4 stk.|دستمال کاغذی آشپزخانه Serla، ۴ رول|مناديل مطبخ Serla، 4 لفات|Khăn giấy bếp Serla, 4 cuộn
HOU-HANDSOAP-DOVE|Dove|household||250 ml|34.95|Dove liquid hand soap|Dove Flytande tvål|Dove Flydende håndsæbe|صابون مایع دست Dove|صابون سائل لليدين Dove|Nước rửa tay Dove
SPI-FLAKESALT|Falksalt|spices||125 g|29.95|Falksalt sea salt flakes|Falksalt Flingsalt|Falksalt Flagesalt|نمک دریایی پولکی Falksalt|رقائق ملح البحر Falksalt|Muối biển dạng vảy Falksalt
SPI-BLACKPEPPER|Santa Maria|spices||38 g|24.95|Santa Maria ground black pepper|Santa Maria Svartpeppar malen|Santa Maria Sort peber, stødt|فلفل سیاه آسیاب‌شده Santa Maria|فلفل أسود مطحون Santa Maria|Tiêu đen xay Santa Maria
SPI-CUMIN|Santa Maria|spices||35 g|26.95|Santa Maria ground cumin|Santa Maria Spiskummin malen|Santa Maria Spidskommen, stødt|زیره سبز آسیاب‌شده Santa Maria|كمون مطحون Santa Maria|Thì là Ai Cập xay Santa Maria
SPI-SAFFRON|Santa Maria|spices||0.5 g|34.95|Santa Maria saffron|Santa Maria Saffran|Santa Maria Safran|زعفران Santa Maria|زعفران Santa Maria|Nhụy hoa nghệ tây Santa Maria
SPI-CARDAMOM|Santa Maria|spices||40 g|39.95|Santa Maria ground cardamom|Santa Maria Kardemumma malen|Santa Maria Kardemomme, stødt|هل آسیاب‌شده Santa Maria|هيل مطحون Santa Maria|Bạch đậu khấu xay Santa Maria
FRZ-PEAS|Findus|frozen||500 g|27.95|Findus garden peas (frozen)|Findus Gröna ärter|Findus Grønne ærter|نخود فرنگی منجمد Findus|بازلاء خضراء مجمدة Findus|Đậu Hà Lan đông lạnh Findus
"""

# Small items that also carry an EAN-8 (second GTIN).
EAN8_SKUS = {
    "SNK-DAIM", "SNK-KEXCHOKLAD", "SNK-LAKEROL", "SPI-FLAKESALT", "SPI-BLACKPEPPER",
    "SPI-CUMIN", "SPI-SAFFRON", "SPI-CARDAMOM", "BEV-TEA-EARLGREY", "BEV-TEA-GREEN",
}
# EAN-13 prefix (restricted circulation 20-29) per category.
GTIN_PREFIX = {
    "fruit": "20", "vegetables": "20", "dairy": "21", "plant-based": "21", "juice": "22",
    "beverages": "22", "bakery": "23", "dry-goods": "24", "spices": "24", "snacks": "25",
    "household": "26", "frozen": "27",
}
# Aisles per category; produce tables have 3 shelves, fridges and gondolas 5; 6 bays per aisle.
AISLES = {
    "fruit": ["P01", "P02"], "vegetables": ["P03", "P04"], "dairy": ["F01", "F02"],
    "plant-based": ["F03"], "juice": ["F04"], "frozen": ["F06"], "bakery": ["A01"],
    "dry-goods": ["A02", "A03"], "spices": ["A04"], "beverages": ["A05"], "snacks": ["A06"],
    "household": ["A07"],
}
BAYS = 6

# Demo scenarios: shelf empty (first 3 also have an empty backroom, so "available nearby" applies)
# and shelf at or below the reorder threshold. Each list is disjoint from the other shops' lists.
OUT_OF_STOCK = {
    "sthlm-city": ["PLB-OATLY-OATDRINK", "FRU-APL-PINKLADY", "JUI-TROP-SMOOTH", "DRY-RICE-BASMATI", "SNK-DAIM"],
    "sthlm-sodermalm": ["FRU-AVOCADO", "DAI-YOG-YOGGI-STRAWB", "VEG-PEPPER-RED", "BEV-COFFEE-GEVALIA", "SPI-SAFFRON"],
    "cph-vesterbro": ["FRU-MANGO", "DAI-SOURCREAM-ARLA", "JUI-GODMORGON-ORANGE", "DRY-FISHSAUCE", "BAK-GIFFLAR"],
}
LOW_STOCK = {
    "sthlm-city": ["DAI-MILK-ARLA-15", "VEG-CUCUMBER", "BAK-LINGONGROVA", "JUI-GODMORGON-APPLE", "HOU-TOILET-LAMBI"],
    "sthlm-sodermalm": ["FRU-BANANA", "DAI-MILK-ARLA-3", "DRY-SPAGHETTI-500", "SNK-OLW-GRILL", "VEG-TOMATO-VINE"],
    "cph-vesterbro": ["FRU-APL-ROYALGALA", "DAI-YOG-ARLA-NATURAL", "PLB-ALPRO-SOY-FRESH", "BEV-COLA", "DRY-PENNE-500"],
}
DKK_PER_SEK = Decimal("0.65")

STORE_HEADER = ["id", "name", "kind", "currency", "locale", "locales", "lat", "lon", "address", "variable_measure"]
# Weighed produce also lists the base code of its scale labels under Swedish rules (GS1 Sweden: prefix 23, a 6-digit
# item number, the weight in grams in the last 4 digits, zero here): a label of 1.234 kg is 23 + item + 1234 + check
# digit, and the kiosk finds the product through this code (edge/batches.py). Fixed item numbers, like a scale's PLUs.
WEIGHED_ITEMS = {
    "FRU-APL-GOLDEN": "100101", "FRU-APL-GRANNY": "100102", "FRU-APL-PINKLADY": "100103",
    "FRU-APL-REDDEL": "100104", "FRU-APL-ROYALGALA": "100105", "FRU-BANANA": "100201",
}
PRODUCT_HEADER = ["sku", "gtins", "brand", "category", "vision_label", "unit", "image"] + [f"name_{lang}" for lang in LANGS]
INVENTORY_HEADER = ["store", "sku", "price", "shelf_location", "shelf", "backroom", "warehouse", "reorder_threshold"]


def rng(*key: object) -> random.Random:
    """A Random seeded from SEED and the key only (str seeds are stable across runs)."""
    return random.Random(":".join([SEED, *map(str, key)]))


def parse(table: str, header: list[str]) -> list[dict[str, str]]:
    rows = []
    for line in table.strip().splitlines():
        fields = line.split("|")
        if len(fields) != len(header):
            raise ValueError(f"{len(fields)} fields, want {len(header)}: {line}")
        rows.append(dict(zip(header, (f.strip() for f in fields), strict=True)))
    return rows


def make_gtins(products: list[dict[str, str]]) -> None:
    seen: set[str] = set()
    for p in products:
        r = rng("gtin", p["sku"])
        codes = []
        for length in (13, 8) if p["sku"] in EAN8_SKUS else (13,):
            while True:
                head, n = (GTIN_PREFIX[p["category"]], 10) if length == 13 else ("2", 6)
                body = head + "".join(str(r.randrange(10)) for _ in range(n))
                code = body + check_digit(body)
                if code not in seen:
                    break
            seen.add(code)
            codes.append(code)
        if p["sku"] in WEIGHED_ITEMS:
            body = "23" + WEIGHED_ITEMS[p["sku"]] + "0000"
            codes.append(body + check_digit(body))
        p["gtins"] = "|".join(codes)


def dkk(sek: Decimal) -> Decimal:
    """About 0.65 x SEK, rounded to the nearest price ending in .00, .50 or .95."""
    x = sek * DKK_PER_SEK
    whole = int(x)
    candidates = [Decimal(n) + Decimal(e) for n in (whole - 1, whole, whole + 1) for e in ("0", "0.50", "0.95")]
    return max(min((c for c in candidates if c > 0), key=lambda c: (abs(c - x), -c)), Decimal("4.95"))


def price_for(store: str, p: dict[str, str]) -> str:
    base = Decimal(p["sek"])
    if store == "sthlm-sodermalm":
        r = rng("price", store, p["sku"])
        if r.random() < 0.3:  # about a third of the items differ slightly from Stockholm City
            base += Decimal(r.choice([-2, -1, 1, 2, 3] if base > 15 else [1, 2]))
    elif store == "cph-vesterbro":
        base = dkk(base)
    return f"{base:.2f}"


def shelf_locations(products: list[dict[str, str]], reverse: bool) -> dict[str, str]:
    by_cat: dict[str, list[str]] = {}
    for p in products:
        by_cat.setdefault(p["category"], []).append(p["sku"])
    out = {}
    for cat, skus in by_cat.items():
        shelves = 3 if cat in ("fruit", "vegetables") else 5
        per_aisle = BAYS * shelves
        aisles = AISLES[cat]
        if len(skus) > per_aisle * len(aisles):
            raise ValueError(f"not enough shelf space for {cat}")
        for i, sku in enumerate(reversed(skus) if reverse else skus):
            slot = i % per_aisle
            out[sku] = f"{aisles[i // per_aisle]}-B{slot // shelves + 1}-S{slot % shelves + 1}"
    return out


def inventory(stores: list[dict[str, str]], products: list[dict[str, str]]) -> list[list[object]]:
    rows: list[list[object]] = []
    thresholds = {p["sku"]: rng("threshold", p["sku"]).randint(5, 15) if p["unit"] == "kg"
                  else rng("threshold", p["sku"]).randint(2, 12) for p in products}
    layouts = {False: shelf_locations(products, False), True: shelf_locations(products, True)}
    for st in (s for s in stores if s["kind"] == "store"):
        sid = st["id"]
        locs = layouts[not sid.startswith("sthlm-")]  # Copenhagen has its own layout
        for p in products:
            sku, thr, r = p["sku"], thresholds[p["sku"]], rng("stock", sid, p["sku"])
            if sku in OUT_OF_STOCK[sid]:
                shelf, backroom = 0, (0 if OUT_OF_STOCK[sid].index(sku) < 3 else r.randint(6, 24))
            elif sku in LOW_STOCK[sid]:
                shelf, backroom = r.randint(1, thr), r.randint(0, 12)
            else:
                shelf, backroom = r.randint(thr + 2, 60), r.randint(0, 120)
            rows.append([sid, sku, price_for(sid, p), locs[sku], shelf, backroom, 0, thr])
    for st in (s for s in stores if s["kind"] == "warehouse"):
        for p in products:
            qty = rng("warehouse", st["id"], p["sku"]).randint(50, 500)
            rows.append([st["id"], p["sku"], "", "", 0, 0, qty, thresholds[p["sku"]]])
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def generate() -> None:
    stores = parse(STORES, STORE_HEADER)
    products = parse(PRODUCTS, ["sku", "brand", "category", "vision_label", "unit", "sek"] + [f"name_{lang}" for lang in LANGS])
    make_gtins(products)
    for p in products:
        p["image"] = f"images/products/{p['sku']}.jpg"
    write_csv(OUT_DIR / "stores.csv", STORE_HEADER, [[s[k] for k in STORE_HEADER] for s in stores])
    write_csv(OUT_DIR / "products.csv", PRODUCT_HEADER, [[p[k] for k in PRODUCT_HEADER] for p in products])
    write_csv(OUT_DIR / "inventory.csv", INVENTORY_HEADER, inventory(stores, products))


# ---------------------------------------------------------------- checks
PERSIAN_ONLY, ARABIC_ONLY = set("یکپچژگ"), set("يكة")


def read(name: str) -> list[dict[str, str]]:
    return [row for _, row in read_rows(OUT_DIR / name, ())]


def check() -> list[str]:
    errors: list[str] = []
    stores, products, inv = read("stores.csv"), read("products.csv"), read("inventory.csv")
    shops = [s["id"] for s in stores if s["kind"] == "store"]
    whs = [s["id"] for s in stores if s["kind"] == "warehouse"]
    for s in stores:
        if not ids.STORE_ID_RE.fullmatch(s["id"]) or s["kind"] not in ("store", "warehouse"):
            errors.append(f"store {s['id']}: bad id/kind")
        if not {"en", "fa", "ar", "vi"} <= set(s["locales"].split()):
            errors.append(f"store {s['id']}: locales")
        float(s["lat"]), float(s["lon"])
        try:
            MeasureConfig.from_text(s.get("variable_measure", ""))
        except MeasureError as exc:
            errors.append(f"store {s['id']}: {exc}")
    if len(shops) < 3 or not whs:
        errors.append("need >= 3 shops and a warehouse")
    skus = [p["sku"] for p in products]
    gtins = [g for p in products for g in p["gtins"].split("|")]
    labels = [p["vision_label"] for p in products if p["vision_label"]]
    if not 110 <= len(products) <= 130 or len(set(skus)) != len(skus) or len(set(gtins)) != len(gtins):
        errors.append("product count or duplicate sku/gtin")
    if len(labels) != 81 or len(set(labels)) != 81:
        errors.append(f"{len(labels)} vision labels, {len(set(labels))} distinct")
    for p in products:
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{2,31}", p["sku"]):
            errors.append(f"{p['sku']}: bad sku")
        if p["sku"] in WEIGHED_ITEMS:  # a 1.234 kg scale label must lead to one of the product's codes
            body = "23" + WEIGHED_ITEMS[p["sku"]] + "1234"
            label = variable_measure("0" + body + check_digit(body), MeasureConfig("se"))
            if label is None or label.base_gtin[1:] not in p["gtins"].split("|") or label.value != Decimal("1.234"):
                errors.append(f"{p['sku']}: no base code for Swedish scale labels")
        for g in p["gtins"].split("|"):
            if not (is_valid_gtin(g) and ((len(g) == 13 and g[:2] in {str(n) for n in range(20, 30)}) or (len(g) == 8 and g[0] == "2"))):
                errors.append(f"{p['sku']}: bad gtin {g}")
        for lang in LANGS:
            name = p[f"name_{lang}"]
            if not name or name != unicodedata.normalize("NFC", name):
                errors.append(f"{p['sku']}: name_{lang} empty or not NFC")
        if set(p["name_fa"]) & ARABIC_ONLY or not any("\u0600" <= c <= "\u06ff" for c in p["name_fa"]):
            errors.append(f"{p['sku']}: name_fa not Persian script")
        if set(p["name_ar"]) & PERSIAN_ONLY or not any("\u0600" <= c <= "\u06ff" for c in p["name_ar"]):
            errors.append(f"{p['sku']}: name_ar not Arabic script")
    pairs = {(r["store"], r["sku"]) for r in inv}
    if len(pairs) != len(inv) or len(inv) != len(products) * (len(shops) + len(whs)):
        errors.append("inventory rows: duplicates or wrong count")
    errors += [f"missing {s}/{k}" for s in shops + whs for k in skus if (s, k) not in pairs]
    for r in inv:
        shelf, back, wh, thr = (int(r[k]) for k in ("shelf", "backroom", "warehouse", "reorder_threshold"))
        if r["store"] in shops:
            if Decimal(r["price"]).as_tuple().exponent != -2 or Decimal(r["price"]) <= 0 or not r["shelf_location"]:
                errors.append(f"{r['store']}/{r['sku']}: price/location")
            if not (0 <= shelf <= 60 and 0 <= back <= 120 and 2 <= thr <= 15):
                errors.append(f"{r['store']}/{r['sku']}: quantities")
        elif r["price"] or r["shelf_location"] or shelf or back or not 50 <= wh <= 500:
            errors.append(f"{r['store']}/{r['sku']}: warehouse row")
    for s in shops:
        rows = [r for r in inv if r["store"] == s]
        out = sum(r["shelf"] == "0" for r in rows)
        low = sum(0 < int(r["shelf"]) <= int(r["reorder_threshold"]) for r in rows)
        print(f"{s}: {len(rows)} rows, {out} with empty shelf, {low} at/below threshold")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the existing files")
    if not ap.parse_args().check:
        generate()
    errors = check()
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    print("OK" if not errors else f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
