"""Entry script of the web app: `llmsizer app`, or `streamlit run` on this file.

On a visitor's first run the page is drawn before the sidebar's widgets (its scenario read from
session state), and each page's module is imported when the page is first opened, so the
Estimate page's metrics appear before plotly, the other pages and the form load. Later runs draw
the sidebar first, so a value a callback sets (a use case's lengths) reaches the browser before
the visitor's next change.
"""

import streamlit as st

from llmsizer.web.sidebar import draw_sidebar, scenario, values


def main() -> None:
    st.set_page_config(page_title="llmsizer", layout="wide")
    held = values()
    choice, problem = scenario()
    sidebar_first = "_visited" in st.session_state
    st.session_state["_visited"] = True
    if sidebar_first:
        draw_sidebar(held)

    def estimate():
        from llmsizer.web.pages import estimate_page

        estimate_page(choice, problem)

    def need():
        from llmsizer.web.need_page import need_page

        need_page(choice, problem)

    def compare():
        from llmsizer.web.pages import compare_page

        compare_page(choice, problem)

    def study():
        from llmsizer.web.pages import study_page

        study_page(choice, problem)

    def load():
        from llmsizer.web.load_page import load_page

        load_page(choice, problem)

    def validation():
        from llmsizer.web.pages import validation_page

        validation_page()

    st.navigation([st.Page(estimate, title="Estimate", default=True),
                   st.Page(need, title="What do I need?", url_path="need"),
                   st.Page(load, title="Under load", url_path="load"),
                   st.Page(compare, title="Compare", url_path="compare"), st.Page(study, title="Study", url_path="study"),
                   st.Page(validation, title="Validation", url_path="validation")], position="top").run()
    if not sidebar_first:
        draw_sidebar(held)


if __name__ == "__main__":
    main()
