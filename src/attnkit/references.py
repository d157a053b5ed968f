"""Short citations (authors, year, venue, arXiv id) of the papers the registries name, so that
``attnkit list`` can say who proposed what; the full entries are in ``docs/references.md`` (a
test keeps the two in agreement)."""

from __future__ import annotations

import re

__all__ = ["CITATIONS", "expand"]

CITATIONS: dict[str, str] = {
    "Abnar20": "Abnar & Zuidema 2020, ACL, arXiv:2005.00928",
    "Ainslie23": "Ainslie et al. 2023, EMNLP, arXiv:2305.13245",
    "Bahdanau15": "Bahdanau, Cho & Bengio 2015, ICLR, arXiv:1409.0473",
    "Beltagy20": "Beltagy, Peters & Cohan 2020, arXiv:2004.05150",
    "Bengio13": "Bengio, Léonard & Courville 2013, arXiv:1308.3432",
    "Brody22": "Brody, Alon & Yahav 2022, ICLR, arXiv:2105.14491",
    "Chan16": "Chan, Jaitly, Le & Vinyals 2016, ICASSP, arXiv:1508.01211",
    "Chefer21b": "Chefer, Gur & Wolf 2021, ICCV, arXiv:2103.15679",
    "Chorowski15": "Chorowski et al. 2015, NeurIPS, arXiv:1506.07503",
    "Cho14": "Cho et al. 2014, EMNLP, arXiv:1406.1078",
    "Collobert11": "Collobert et al. 2011, JMLR, arXiv:1103.0398",
    "Devlin19": "Devlin, Chang, Lee & Toutanova 2019, NAACL, arXiv:1810.04805",
    "Dong24": "Dong et al. 2024, arXiv:2412.05496",
    "Dosovitskiy21": "Dosovitskiy et al. 2021, ICLR, arXiv:2010.11929",
    "Ferrando22": "Ferrando, Gállego & Costa-jussà 2022, EMNLP, arXiv:2203.04212",
    "Ferrando22b": "Ferrando et al. 2022, EMNLP, arXiv:2205.11631",
    "Garg19": "Garg et al. 2019, EMNLP, arXiv:1909.02074",
    "Gehring17": "Gehring et al. 2017, ICML, arXiv:1705.03122",
    "Gildenblat20": "Gildenblat 2020, vit-explain (software, GitHub jacobgil/vit-explain)",
    "Graves14": "Graves, Wayne & Danihelka 2014, arXiv:1410.5401",
    "Hu18": "Hu, Shen & Sun 2018, CVPR, arXiv:1709.01507",
    "Huang15": "Huang, Xu & Yu 2015, arXiv:1508.01991",
    "Jaderberg15": "Jaderberg et al. 2015, NeurIPS, arXiv:1506.02025",
    "Jang17": "Jang, Gu & Poole 2017, ICLR, arXiv:1611.01144",
    "Junczys18": "Junczys-Dowmunt et al. 2018, ACL (demo), arXiv:1804.00344",
    "Katharopoulos20": "Katharopoulos et al. 2020, ICML, arXiv:2006.16236",
    "Kipf17": "Kipf & Welling 2017, ICLR, arXiv:1609.02907",
    "Kobayashi20": "Kobayashi et al. 2020, EMNLP, arXiv:2004.10102",
    "Kudo18b": "Kudo & Richardson 2018, EMNLP (demo), arXiv:1808.06226",
    "Liu19": "Liu et al. 2019, arXiv:1907.11692",
    "LeCun98": "LeCun et al. 1998, Proc. IEEE, DOI:10.1109/5.726791",
    "Luong15": "Luong, Pham & Manning 2015, EMNLP, arXiv:1508.04025",
    "Ma16": "Ma & Hovy 2016, ACL, arXiv:1603.01354",
    "Martins16": "Martins & Astudillo 2016, ICML, arXiv:1602.02068",
    "Mnih14": "Mnih et al. 2014, NeurIPS, arXiv:1406.6247",
    "Nangia18": "Nangia & Bowman 2018, NAACL SRW, arXiv:1804.06028",
    "Och03": "Och & Ney 2003, Computational Linguistics 29(1), ACL Anthology J03-1002",
    "Peters19": "Peters, Niculae & Martins 2019, ACL, arXiv:1905.05702",
    "Plank16": "Plank, Søgaard & Goldberg 2016, ACL, arXiv:1604.05529",
    "Press21": "Press, Smith & Lewis 2022, ICLR, arXiv:2108.12409",
    "Radford19": "Radford et al. 2019, OpenAI technical report",
    "Radford22": "Radford et al. 2022, ICML 2023, arXiv:2212.04356",
    "Shazeer19": "Shazeer 2019, arXiv:1911.02150",
    "Su21": "Su et al. 2021, arXiv:2104.09864",
    "Tay21": "Tay et al. 2021, ICLR, arXiv:2011.04006",
    "Tiedemann20": "Tiedemann & Thottingal 2020, EAMT, ACL Anthology 2020.eamt-1.61",
    "Tu16": "Tu et al. 2016, ACL, arXiv:1601.04811",
    "Vaswani17": "Vaswani et al. 2017, NeurIPS, arXiv:1706.03762",
    "Velickovic18": "Veličković et al. 2018, ICLR, arXiv:1710.10903",
    "Wang18": "Wang et al. 2018, CVPR, arXiv:1711.07971",
    "Wang20": "Wang et al. 2020, CVPR, arXiv:1910.03151",
    "Woo18": "Woo et al. 2018, ECCV, arXiv:1807.06521",
    "Xiao17": "Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747",
    "Xu15": "Xu et al. 2015, ICML, arXiv:1502.03044",
    "Yang16": "Yang et al. 2016, NAACL, ACL Anthology N16-1174",
    "Zachary77": "Zachary 1977, Journal of Anthropological Research, DOI:10.1086/jar.33.4.3629752",
}

_KEY = re.compile(r"\[([A-Z][A-Za-z]+\d\d[a-z]?)\]")


def expand(reference: str) -> str:
    """`reference` with each ``[Key]`` it cites followed by its short citation in parentheses."""
    return _KEY.sub(
        lambda m: f"[{m.group(1)}] ({CITATIONS[m.group(1)]})" if m.group(1) in CITATIONS else m.group(0), reference
    )
