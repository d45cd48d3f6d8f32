from __future__ import annotations

import pytest

from tests.helpers import Account, Api, assert_error


async def _customers(api: Api, account: Account, n: int) -> list[str]:
    return [(await api.create_customer(account.secret_key, name=f"c{i}"))["id"] for i in range(n)]


async def test_newest_first_with_cursors(api: Api) -> None:
    account = await api.signup()
    ids = await _customers(api, account, 7)
    newest_first = list(reversed(ids))

    page1 = (
        await api.http.get("/v1/customers", params={"limit": 3}, headers=account.key_headers)
    ).json()
    assert page1["object"] == "list"
    assert page1["url"] == "/v1/customers"
    assert [c["id"] for c in page1["data"]] == newest_first[:3]
    assert page1["has_more"] is True

    page2 = (
        await api.http.get(
            "/v1/customers",
            params={"limit": 3, "starting_after": page1["data"][-1]["id"]},
            headers=account.key_headers,
        )
    ).json()
    assert [c["id"] for c in page2["data"]] == newest_first[3:6]
    assert page2["has_more"] is True

    page3 = (
        await api.http.get(
            "/v1/customers",
            params={"limit": 3, "starting_after": page2["data"][-1]["id"]},
            headers=account.key_headers,
        )
    ).json()
    assert [c["id"] for c in page3["data"]] == newest_first[6:]
    assert page3["has_more"] is False

    back = (
        await api.http.get(
            "/v1/customers",
            params={"limit": 2, "ending_before": page3["data"][0]["id"]},
            headers=account.key_headers,
        )
    ).json()
    assert [c["id"] for c in back["data"]] == newest_first[4:6]
    assert back["has_more"] is True


async def test_default_limit_is_ten_and_empty_list(api: Api) -> None:
    account = await api.signup()
    empty = (await api.http.get("/v1/customers", headers=account.key_headers)).json()
    assert empty == {"object": "list", "url": "/v1/customers", "has_more": False, "data": []}
    await _customers(api, account, 11)
    page = (await api.http.get("/v1/customers", headers=account.key_headers)).json()
    assert len(page["data"]) == 10
    assert page["has_more"] is True


async def test_exact_fit_has_no_more(api: Api) -> None:
    account = await api.signup()
    await _customers(api, account, 3)
    page = (
        await api.http.get("/v1/customers", params={"limit": 3}, headers=account.key_headers)
    ).json()
    assert len(page["data"]) == 3
    assert page["has_more"] is False


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": 10**30}, "limit"),
        ({"starting_after": "cus_doesnotexist"}, "starting_after"),
        ({"ending_before": "cus_doesnotexist"}, "ending_before"),
        ({"starting_after": "x" * 500}, "starting_after"),
        ({"starting_after": "a", "ending_before": "b"}, "ending_before"),
    ],
)
async def test_absurd_values_are_400(api: Api, params: dict[str, object], param: str) -> None:
    account = await api.signup()
    response = await api.http.get("/v1/customers", params=params, headers=account.key_headers)
    assert_error(response, 400, type_="invalid_request_error", param=param)


async def test_limit_100_allowed(api: Api) -> None:
    account = await api.signup()
    response = await api.http.get(
        "/v1/customers", params={"limit": 100}, headers=account.key_headers
    )
    assert response.status_code == 200


async def test_a_cursor_outside_the_filter_still_pages(api: Api) -> None:
    account = await api.signup()
    ids = []
    for i in range(4):
        body = {"name": f"c{i}", "email": "same@shop.cm" if i % 2 == 0 else f"c{i}@shop.cm"}
        ids.append((await api.create_customer(account.secret_key, **body))["id"])
    # ids[3] does not match the filter; the page is the matching ones older than it.
    response = await api.http.get(
        "/v1/customers",
        params={"email": "same@shop.cm", "starting_after": ids[3]},
        headers=account.key_headers,
    )
    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()["data"]] == [ids[2], ids[0]]


async def test_another_merchants_object_is_no_cursor(api: Api) -> None:
    mine, theirs = await api.signup(), await api.signup()
    await _customers(api, mine, 1)
    (other,) = await _customers(api, theirs, 1)
    response = await api.http.get(
        "/v1/customers", params={"starting_after": other}, headers=mine.key_headers
    )
    assert_error(response, 400, code="resource_missing", param="starting_after")
