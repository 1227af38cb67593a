#!/usr/bin/env python3
"""Writes a deterministic prospects CSV for benchmarks: N rows, Excel-style (';', CRLF),
each with an invoice contact, a mobile, tags and one delivery.
    scripts/gen-prospects-csv.py ROWS OUT.csv"""
import sys

rows, out = int(sys.argv[1]), sys.argv[2]
langs = ["nl", "fr", "de", "en"]
tags = ["vip", "north", "south", "retail", "wholesale"]
with open(out, "w", newline="") as f:
    f.write("invoice_contact_name;invoice_company;invoice_email;invoice_phone;invoice_mobile_nr;"
            "invoice_language;invoice_tags;delivery_1_phone;delivery1_contact_name;delivery_1_city\r\n")
    for i in range(rows):
        f.write(f"Contact {i};Company {i} BV;c{i}@example.be;047{i:07d};048{i:07d};"
                f"{langs[i % 4]};\"{tags[i % 5]};{tags[(i // 5) % 5]}\";049{i:07d};Site {i};City {i % 100}\r\n")
